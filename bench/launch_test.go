package bench_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/bench"
)

// TestStartTakesThePortTheNodeBound: the launched node binds a port of
// its own choosing and the launcher reads it from the banner, so a port
// that another process holds is never the node's.
func TestStartTakesThePortTheNodeBound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := bench.Start(ctx, bench.Launch{Binary: binary, CPU: -1, Args: []string{"--log-level", "warn"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	addr := strings.TrimPrefix(n.URL, "http://")
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Fatalf("node URL %q", n.URL)
	}
	// The port is the node's: a listen on it fails while the node runs.
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("nothing listens on %s, the node's address", addr)
	}
}

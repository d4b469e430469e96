package nats_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

// TestOldServerIsRefused: the NATS Server a distribution ships may predate
// what the broker needs (Debian 12's is 2.9.10). It takes the stream's
// settings without complaint and republishes messages this node cannot
// read, so a node that started on it would answer publishes and deliver
// nothing. New refuses it, naming the version needed.
func TestOldServerIsRefused(t *testing.T) {
	srv := testenv.NATSBinary(t)
	if !olderThan(srv.Version(), nats.MinServerVersion) {
		t.Skipf("the installed nats-server is %s, not older than %s: nothing to refuse", srv.Version(), nats.MinServerVersion)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := nats.New(ctx, nats.Config{URL: srv.URL()})
	if err == nil {
		b.Close()
		t.Fatalf("New on nats-server %s succeeded", srv.Version())
	}
	t.Logf("New on nats-server %s: %v", srv.Version(), err)
	for _, want := range []string{nats.MinServerVersion, srv.Version()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New on nats-server %s: %v; want an error naming %q", srv.Version(), err, want)
		}
	}
}

// olderThan compares two "major.minor.patch" versions.
func olderThan(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(pa), len(pb)) {
		if pa[i] != pb[i] {
			return len(pa[i]) < len(pb[i]) || len(pa[i]) == len(pb[i]) && pa[i] < pb[i]
		}
	}
	return false
}

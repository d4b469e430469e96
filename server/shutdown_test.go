package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/server"
)

// TestShutdownDelayAnswersNotReady: once shutdown begins, a load balancer
// probing /readyz must get 503, not a refused connection, for as long as
// Config.ShutdownDelay, while the node goes on serving what it serves —
// health, the API, existing streams; only then does it stop accepting and
// drain as usual.
func TestShutdownDelayAnswersNotReady(t *testing.T) {
	// Long enough for the checks below on a loaded machine; the test
	// waits for it once.
	const delay = 3 * time.Second
	n := newNode(t, func(c *server.Config) { c.ShutdownDelay = delay })
	c := n.dial("")
	c.subscribe("chat:room")

	get := func(path string) int {
		t.Helper()
		resp, err := http.Get(n.base + path)
		if err != nil {
			t.Fatalf("GET %s during the shutdown delay: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/readyz"); got != http.StatusOK {
		t.Fatalf("readyz before shutdown: %d", got)
	}

	n.stopped = true // this test waits for Serve itself
	n.stop()
	testkit.EventuallyWithin(t, delay, "/readyz to answer 503 once shutdown began", func() bool {
		return get("/readyz") == http.StatusServiceUnavailable
	})
	if got := get("/healthz"); got != http.StatusOK {
		t.Errorf("healthz during the shutdown delay: %d, want 200", got)
	}
	// The existing stream still delivers what the API still accepts.
	off := n.publish("chat:room", `"still here"`)
	f := c.read()
	if f["type"] != "message" || f["offset"] != float64(off) {
		t.Errorf("during the shutdown delay the subscriber got %v, want the publication at offset %d", f, off)
	}

	select {
	case err := <-n.served:
		if err != nil {
			t.Fatalf("Serve after the delay: %v", err)
		}
	case <-time.After(delay + 15*time.Second):
		t.Fatal("Serve did not return after the shutdown delay and drain")
	}
	for f = c.read(); f["type"] != "disconnect"; f = c.read() {
	}
	if f["reconnect"] != true {
		t.Errorf("disconnect frame %v, want reconnect", f)
	}
	if resp, err := http.Get(n.base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the listener still accepts after the shutdown")
	}
}

package relay_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
)

// TestRetry: an outage logs one warning, then debug lines, and the waits
// stay within the brokers' bounds.
func TestRetry(t *testing.T) {
	var buf bytes.Buffer
	r := relay.NewRetry(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for i := range 3 {
		d := r.Failed("cannot connect", errors.New("refused"))
		if d < relay.MinBackoff/2 || d > relay.MaxBackoff {
			t.Errorf("wait %d: %s, outside [%s, %s]", i, d, relay.MinBackoff/2, relay.MaxBackoff)
		}
	}
	r.Failed("", nil)
	if got := r.Failures(); got != 4 {
		t.Errorf("Failures = %d, want 4", got)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[1], "level=DEBUG") || !strings.Contains(lines[2], "attempt=3") {
		t.Errorf("logged:\n%s\nwant one WARN, then DEBUG, counting attempts", buf.String())
	}
	r.Reset()
	if got := r.Failures(); got != 0 {
		t.Errorf("Failures after Reset = %d", got)
	}
}

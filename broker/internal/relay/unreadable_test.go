package relay_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/broker/internal/relay"
)

// records keeps the log records at Error a relay writes.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// byChannel counts the records per channel attribute, and returns the
// suppressed attribute of the last one of each.
func (r *records) byChannel() (lines map[string]int, suppressed map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines, suppressed = map[string]int{}, map[string]int64{}
	for _, rec := range r.recs {
		var ch string
		var sup int64
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "channel":
				ch = a.Value.String()
			case "suppressed":
				sup = a.Value.Int64()
			}
			return true
		})
		lines[ch]++
		suppressed[ch] = sup
	}
	return lines, suppressed
}

// TestUnreadableIsCountedAndLoggedOncePerInterval: a node that cannot read
// what its broker sends (a broker too old for it, a rolling upgrade across
// a format change) meets it on every publication. Each one is counted,
// for /metrics, but the log says so once a LogInterval per channel, with
// how many it left unsaid, instead of filling up.
func TestUnreadableIsCountedAndLoggedOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var count atomic.Uint64
		logs := &records{}
		n := newNodeWith(t, false, func(c *relay.Config) {
			c.Unreadable = &count
			c.Log = slog.New(logs)
		})
		n.subscribe("a")
		n.subscribe("b")
		ctx := context.Background()
		for range 50 {
			n.relay.Unreadable(ctx, "a", body.ErrMalformed)
			m := n.src.publish("b", "e")
			m.Body = []byte{0x02, 0} // a format of a later version
			if err := n.relay.Handle(ctx, "b", m); err != nil {
				t.Fatal(err)
			}
		}
		if got := count.Load(); got != 100 {
			t.Errorf("counted %d unreadable publications, want 100", got)
		}
		lines, _ := logs.byChannel()
		if lines["a"] != 1 || lines["b"] != 1 {
			t.Errorf("log lines per channel %v, want one each for a and b", lines)
		}

		time.Sleep(relay.LogInterval)
		n.relay.Unreadable(ctx, "a", body.ErrMalformed)
		lines, suppressed := logs.byChannel()
		if lines["a"] != 2 || suppressed["a"] != 49 {
			t.Errorf("after LogInterval: %d lines for a, the last saying %d suppressed; want 2 and 49", lines["a"], suppressed["a"])
		}
	})
}

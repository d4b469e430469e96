package hub_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newHub runs a hub on the memory broker for the test's duration.
func newHub(t *testing.T, cfg hub.Config) *hub.Hub {
	t.Helper()
	if cfg.Broker == nil {
		cfg.Broker = memory.New(memory.Config{})
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub.Run: %v", err)
		}
	})
	return h
}

// testEncoder encodes a publication as its offset and counts its calls.
type testEncoder struct {
	publications atomic.Int64
	ping         []byte
}

func (e *testEncoder) Publication(p *stream.Publication) []byte {
	e.publications.Add(1)
	return []byte(strconv.FormatUint(p.Offset, 10))
}
func (e *testEncoder) Ping() []byte { return e.ping }
func (e *testEncoder) Presence(string, bool, *stream.ClientInfo) []byte {
	return []byte("presence")
}

func newSession(t *testing.T, h *hub.Hub, enc hub.Encoder) *hub.Session {
	t.Helper()
	s, err := h.NewSession(hub.SessionOptions{Transport: "test", Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// drain is a transport's writer in miniature: it forwards every queued item
// until the session ends.
type drain struct {
	items chan hub.Item
	wg    sync.WaitGroup
}

func startDrain(s *hub.Session) *drain {
	d := &drain{items: make(chan hub.Item, 1<<16)}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(d.items)
		var buf []hub.Item
		for {
			select {
			case <-s.Ready():
				buf = s.Take(buf)
				for _, it := range buf {
					d.items <- it
				}
			case <-s.Done():
				for _, it := range s.Take(buf) {
					d.items <- it
				}
				return
			}
		}
	}()
	return d
}

// next returns the next publication, skipping other items.
func (d *drain) next(t *testing.T, timeout time.Duration) *stream.Publication {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case it, ok := <-d.items:
			if !ok {
				t.Fatal("session ended while waiting for a publication")
			}
			if it.Pub != nil {
				return it.Pub
			}
		case <-deadline:
			t.Fatal("no publication within", timeout)
		}
	}
}

// none checks that no publication arrives for a short while.
func (d *drain) none(t *testing.T, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case it, ok := <-d.items:
			if ok && it.Pub != nil {
				t.Fatalf("unexpected publication at offset %d", it.Pub.Offset)
			}
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

func publish(t *testing.T, h *hub.Hub, ch string, n int) []stream.PublishResult {
	t.Helper()
	out := make([]stream.PublishResult, 0, n)
	for i := 0; i < n; i++ {
		res, err := h.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

func waitDone(t *testing.T, s *hub.Session, timeout time.Duration) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Cause()
	case <-time.After(timeout):
		t.Fatal("session did not end within", timeout)
		return nil
	}
}

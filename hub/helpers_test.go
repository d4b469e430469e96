package hub_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

// Unsubscribed encodes the push as "unsubscribed <channel> <error>".
func (e *testEncoder) Unsubscribed(channel string, err error) []byte {
	return []byte("unsubscribed " + channel + " " + err.Error())
}

// Gap encodes a gap as "gap <channel> <old epoch>:<offset> -> <new epoch>".
func (e *testEncoder) Gap(g *hub.Gap) []byte {
	return []byte("gap " + g.Channel + " " + g.From.Epoch + ":" + strconv.FormatUint(g.From.Offset, 10) + " -> " + g.Epoch)
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

// item returns the next queued item for which want is true, skipping the
// others, and fails t if none comes within [testkit.Wait].
func (d *drain) item(t *testing.T, what string, want func(hub.Item) bool) hub.Item {
	t.Helper()
	deadline := time.After(testkit.Wait)
	for {
		select {
		case it, ok := <-d.items:
			if !ok {
				t.Fatalf("session ended while waiting for %s", what)
			}
			if want(it) {
				return it
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, testkit.Wait)
		}
	}
}

// next returns the next publication, skipping other items.
func (d *drain) next(t *testing.T) *stream.Publication {
	t.Helper()
	return d.item(t, "publication", isPub).Pub
}

// nextPush returns the next item that is not a publication.
func (d *drain) nextPush(t *testing.T) string {
	t.Helper()
	return string(d.item(t, "push", isPush).Bytes)
}

// none checks that nothing for which unwanted is true was queued. It runs in
// a synctest bubble: once every goroutine of the bubble waits, whatever the
// hub was going to queue is queued and forwarded.
func (d *drain) none(t *testing.T, unwanted func(hub.Item) bool) {
	t.Helper()
	synctest.Wait()
	for {
		select {
		case it, ok := <-d.items:
			if !ok {
				return
			}
			if unwanted(it) {
				t.Fatalf("unexpected item: publication %v, bytes %q", it.Pub, it.Bytes)
			}
		default:
			return
		}
	}
}

func isPub(it hub.Item) bool  { return it.Pub != nil }
func isPush(it hub.Item) bool { return it.Pub == nil }

// waitDone waits for s to end and returns why, failing t if it has not
// ended within [testkit.Wait].
func waitDone(t *testing.T, s *hub.Session) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Cause()
	case <-time.After(testkit.Wait):
		t.Fatalf("session did not end within %v", testkit.Wait)
		return nil
	}
}

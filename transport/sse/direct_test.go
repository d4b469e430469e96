package sse_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// nextPub reads the next publication event, skipping pings, and checks its
// id line is the stream's cursor after it.
func (s *rawStream) nextPub(t *testing.T) (string, uint64, error) {
	for {
		ev := s.event(t)
		if strings.HasPrefix(ev, "event: ping\n") {
			continue
		}
		data, id, ok := strings.Cut(strings.TrimPrefix(ev, "data: "), "\nid: ")
		if !ok || !strings.HasSuffix(id, "\n\n") {
			return "", 0, fmt.Errorf("not a publication event: %q", ev)
		}
		var p struct {
			Channel string `json:"channel"`
			Offset  uint64 `json:"offset"`
		}
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return "", 0, fmt.Errorf("garbled event %.200q: %w", ev, err)
		}
		var c stream.Cursor
		if err := c.UnmarshalText([]byte(strings.TrimSuffix(id, "\n\n"))); err != nil {
			return "", 0, fmt.Errorf("bad id in %.200q: %w", ev, err)
		}
		if pos, _ := c.Get(p.Channel); pos.Offset != p.Offset {
			return "", 0, fmt.Errorf("id says offset %d after publication %d", pos.Offset, p.Offset)
		}
		return p.Channel, p.Offset, nil
	}
}

// TestDirectWritesKeepOrder publishes from several goroutines at once to
// streams that read at once, and to one whose socket is full for most of
// the run: fan-out writes to idle streams itself, hands a full socket to
// the stream's writer, and queues what arrives while either is under way.
// Every stream must see every offset in order, each event whole, with its
// id.
func TestDirectWritesKeepOrder(t *testing.T) {
	const (
		channel    = "chat:order"
		publishers = 4
		each       = 100
		total      = publishers * each
	)
	n := transporttest.Start(t, transporttest.Config{Hub: hub.Config{QueueLimit: 256 << 20}, Handler: handlerOnly(sse.Config{})})
	subs := make([]*rawStream, 4)
	for i := range subs {
		subs[i] = dialStream(t, n.Server.URL, "/connection/sse?channel="+channel)
		subs[i].event(t)
		subs[i].event(t)
	}
	// The last stream reads nothing until half is published (about 6 MB,
	// more than the socket buffers hold): its socket fills, direct writes
	// stop short and its writer takes over.
	slow := subs[len(subs)-1]
	_ = slow.nc.(*net.TCPConn).SetReadBuffer(256 << 10)
	half := make(chan struct{})
	errs := make(chan error, len(subs))
	for i, s := range subs {
		go func() {
			if s == slow {
				<-half
			}
			for want := uint64(1); want <= total; want++ {
				_ = s.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
				ch, off, err := s.nextPub(t)
				if err == nil && (ch != channel || off != want) {
					err = fmt.Errorf("got %s #%d, want #%d", ch, off, want)
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	transporttest.PublishConcurrently(t, n.Hub, channel, publishers, each, half)
	for range subs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdleStreamLongerThanWriteTimeout: direct writes never move the write
// deadline a blocking write left behind, and the runtime refuses every
// write once it has passed. A stream idle for longer than WriteTimeout
// after its writer wrote (a join event, which is queued, never written
// directly) must still get what is published next.
func TestIdleStreamLongerThanWriteTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	n := transporttest.Start(t, transporttest.Config{
		Hub:     hub.Config{Namespaces: transporttest.PresenceNamespaces(t), Presence: memory.NewPresence(memory.PresenceConfig{})},
		Handler: handlerOnly(sse.Config{WriteTimeout: timeout}),
	})
	const q = "/connection/sse?channel=chat:deadline&token=good:"
	s := dialStream(t, n.Server.URL, q+"ann")
	s.event(t)
	s.event(t)
	if ev := s.event(t); !strings.HasPrefix(ev, "event: join\n") {
		t.Fatalf("got %q, want its own join event", ev)
	}
	for want := uint64(1); want <= 3; want++ {
		other := dialStream(t, n.Server.URL, q+fmt.Sprint("user", want))
		if ev := s.event(t); !strings.HasPrefix(ev, "event: join\n") {
			t.Fatalf("got %q, want a join event", ev)
		}
		// Not a wait for an event: the stream must stay idle until the
		// deadline its writer's last write set has passed.
		time.Sleep(2 * timeout)
		n.Publish(t, "chat:deadline", `{}`)
		if _, off, err := s.nextPub(t); err != nil || off != want {
			t.Fatalf("got #%d (%v), want #%d", off, err, want)
		}
		other.nc.Close()
		if ev := s.event(t); !strings.HasPrefix(ev, "event: leave\n") {
			t.Fatalf("got %q, want a leave event", ev)
		}
	}
}

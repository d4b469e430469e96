package ws_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// readInOrder reads count publications of channel ch from c and reports the
// first one out of order: every offset must follow the one before it, from
// 1, with nothing missing, repeated or garbled.
func readInOrder(c *client, ch string, count int) error {
	for want := uint64(1); want <= uint64(count); want++ {
		_ = c.c.NetConn().SetReadDeadline(time.Now().Add(testkit.Wait))
		_, b, err := c.c.ReadMessage()
		if err != nil {
			return fmt.Errorf("reading offset %d: %w", want, err)
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			return fmt.Errorf("offset %d: undecodable frame: %w", want, err)
		}
		if f.Type == "ping" {
			want--
			continue
		}
		if f.Type != "message" || f.Channel != ch || f.Offset != want {
			return fmt.Errorf("got %s %q offset %d, want message offset %d", f.Type, f.Channel, f.Offset, want)
		}
	}
	return nil
}

// TestConcurrentPublishersKeepOrder publishes from several goroutines at
// once to subscribers that read at once, and to one whose socket is full
// for most of the run: fan-out writes to idle connections itself, hands a
// full socket to the connection's writer, and queues what arrives while
// either is under way. Every subscriber must see every offset in order.
func TestConcurrentPublishersKeepOrder(t *testing.T) {
	const (
		channel    = "chat:order"
		publishers = 4
		each       = 150
		total      = publishers * each
	)
	n := startNode(t, hub.Config{QueueLimit: 256 << 20}, ws.Config{})
	subs := make([]*client, 4)
	for i := range subs {
		subs[i] = connected(t, n)
		if f := subs[i].call(protocol.Command{Type: "subscribe", Channel: channel}); f.Error != nil {
			t.Fatal(f.Error)
		}
	}
	// The last subscriber reads nothing until half is published (about
	// 9 MB, more than the socket buffers hold): its socket fills, direct
	// writes stop short and its writer takes over. (A receive buffer far
	// below loopback's 64 KB segment would slow the rest of the run to a
	// crawl of window updates.)
	slow := subs[len(subs)-1]
	_ = slow.c.NetConn().(*net.TCPConn).SetReadBuffer(256 << 10)
	half := make(chan struct{})

	errs := make(chan error, len(subs))
	for i, c := range subs {
		go func() {
			if c == slow {
				<-half
			}
			if err := readInOrder(c, channel, total); err != nil {
				errs <- fmt.Errorf("subscriber %d: %w", i, err)
				return
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

// TestIdleLongerThanWriteTimeout: direct writes never move the write
// deadline a blocking write left behind, and the runtime refuses every write
// once it has passed. A connection idle for longer than WriteTimeout must
// still get what is published next, and must not be cut as slow.
func TestIdleLongerThanWriteTimeout(t *testing.T) {
	const (
		channel = "chat:deadline"
		timeout = 100 * time.Millisecond
	)
	n := startNode(t, hub.Config{}, ws.Config{WriteTimeout: timeout})
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: channel}); f.Error != nil {
		t.Fatal(f.Error)
	}
	for want := uint64(1); want <= 3; want++ {
		// Not a wait for an event: the connection must stay idle until
		// the deadline its last blocking write set has passed.
		time.Sleep(2 * timeout)
		if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: channel, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		f := c.read()
		for f.Type == "ping" {
			f = c.read()
		}
		if f.Type != "message" || f.Offset != want {
			t.Fatalf("got %+v, want message %d", f, want)
		}
	}
}

// TestTLSConnectionDelivers: a connection over TLS cannot take the
// fan-out's raw socket writes; its writer still delivers everything, in
// order.
func TestTLSConnectionDelivers(t *testing.T) {
	const channel = "chat:tls"
	h := transporttest.RunHub(t, hub.Config{Namespaces: transporttest.Namespaces(t), Policy: testkit.Policy{}})
	handler := ws.New(ws.Config{Hub: h, Verifier: testkit.Verifier{}})
	srv := httptest.NewUnstartedServer(handler)
	srv.StartTLS() // HTTP/1.1: WebSocket upgrades over TLS
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx, 0)
		if err := handler.Wait(ctx); err != nil {
			t.Errorf("connections still open: %v", err)
		}
		srv.Close()
	})
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := wsclient.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "https"), wsclient.Options{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := tls.Dialer{Config: cfg}
			return d.DialContext(ctx, network, addr)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wc.Close() })
	c := &client{t: t, c: wc}
	if f := c.call(protocol.Command{Type: "connect"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	if f := c.call(protocol.Command{Type: "subscribe", Channel: channel}); f.Error != nil {
		t.Fatal(f.Error)
	}
	const count = 200
	got := make(chan error, 1)
	go func() { got <- readInOrder(c, channel, count) }()
	for i := range count {
		data := fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("y", i*131%(8<<10)))
		if _, err := h.Publish(context.Background(), stream.PublishRequest{Channel: channel, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestChannelsInterleavedKeepOrder publishes small publications to two
// channels at once, from two goroutines each, to subscribers of both:
// one channel's fan-out finds a connection claimed by the other's, or
// queues behind a direct write that has just looked at the queue, so
// publications of both channels and the replies to the clients' commands
// share one connection's writes. Each channel's offsets must all arrive,
// once and in order.
func TestChannelsInterleavedKeepOrder(t *testing.T) {
	const each = 200 // per publisher; two publishers per channel
	channels := []string{"chat:a", "chat:b"}
	n := startNode(t, hub.Config{QueueLimit: 64 << 20}, ws.Config{})
	subs := make([]*client, 3)
	for i := range subs {
		subs[i] = connected(t, n)
		for _, ch := range channels {
			if f := subs[i].call(protocol.Command{Type: "subscribe", Channel: ch}); f.Error != nil {
				t.Fatal(f.Error)
			}
		}
	}
	errs := make(chan error, len(subs))
	for i, c := range subs {
		go func() {
			next := map[string]uint64{channels[0]: 1, channels[1]: 1}
			for got := 0; got < 4*each; {
				_ = c.c.NetConn().SetReadDeadline(time.Now().Add(testkit.Wait))
				_, b, err := c.c.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("subscriber %d after %d publications: %w", i, got, err)
					return
				}
				f, err := protocol.DecodeFrame(b)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: undecodable frame: %w", i, err)
					return
				}
				if f.Type != "message" {
					continue // a ping, or a reply to the history command below
				}
				if f.Offset != next[f.Channel] {
					errs <- fmt.Errorf("subscriber %d: %q offset %d, want %d", i, f.Channel, f.Offset, next[f.Channel])
					return
				}
				next[f.Channel]++
				got++
			}
			errs <- nil
		}()
	}
	// One subscriber's own commands put replies in its queue meanwhile.
	done := make(chan error, 5)
	go func() {
		for i := range each {
			cmd := protocol.Command{Type: "history", ID: uint64(100 + i), Channel: channels[i%2]}
			if err := subs[0].c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for p := range 4 {
		go func() {
			for i := range each {
				data := fmt.Sprintf(`{"p":%d,"i":%d}`, p, i)
				if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: channels[p%2], Data: []byte(data)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 5 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for range subs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

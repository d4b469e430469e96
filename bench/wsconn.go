package bench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// wsSubscriber is one benchmark client on WebSocket: connected, subscribed,
// answering pings and counting what it receives.
type wsSubscriber struct {
	conn     *wsclient.Conn
	received atomic.Int64
	// onMsg, when set, sees every frame but pings, before the next is read.
	onMsg func(b []byte)
	done  chan struct{} // closed when run returns
}

// sourceDialer hands out dialers bound to several loopback addresses, so
// one process can open more sockets than one source address has ports.
// The dialers are made once and shared (a net.Dialer is safe for
// concurrent use); each leaves the port to connect (see noPortYet).
type sourceDialer struct {
	addrs   []string
	once    sync.Once
	dialers []*net.Dialer
	next    atomic.Uint64
}

func (s *sourceDialer) dialer() *net.Dialer {
	s.once.Do(func() {
		for _, a := range s.addrs {
			s.dialers = append(s.dialers, &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(a)}, Control: noPortYet})
		}
		if len(s.dialers) == 0 {
			s.dialers = []*net.Dialer{{}}
		}
	})
	return s.dialers[s.next.Add(1)%uint64(len(s.dialers))]
}

func wsURL(nodeURL string) string {
	return "ws" + strings.TrimPrefix(nodeURL, "http") + "/connection/websocket"
}

// dialSubscriber connects and subscribes to channel, returning once the
// subscribe reply arrived.
func dialSubscriber(ctx context.Context, nodeURL string, d *net.Dialer, channel string) (*wsSubscriber, error) {
	return dialSubscriberWith(ctx, nodeURL, wsclient.Options{Dialer: d, ReadBufferSize: 1024}, channel)
}

// dialSubscriberWith is dialSubscriber with the client's options (a TLS
// dial, see [Node.wsOptions]).
func dialSubscriberWith(ctx context.Context, nodeURL string, opts wsclient.Options, channel string) (*wsSubscriber, error) {
	if strings.HasPrefix(nodeURL, "https://") {
		nodeURL = "http://" + strings.TrimPrefix(nodeURL, "https://")
	}
	c, _, err := wsclient.Dial(ctx, wsURL(nodeURL), opts)
	if err != nil {
		return nil, err
	}
	s := &wsSubscriber{conn: c}
	steps := []protocol.Command{
		{Type: "connect", ID: 1},
		{Type: "subscribe", ID: 2, Channel: channel},
	}
	for _, cmd := range steps {
		if err := c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
			c.Close()
			return nil, err
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				c.Close()
				return nil, err
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil {
				c.Close()
				return nil, err
			}
			if f.ID != cmd.ID {
				continue
			}
			if f.Error != nil {
				c.Close()
				return nil, fmt.Errorf("%s: %w", cmd.Type, f.Error)
			}
			break
		}
	}
	return s, nil
}

var pongFrame = protocol.AppendCommand(nil, protocol.Command{Type: "pong"})

// run reads until the connection ends, answering pings.
func (s *wsSubscriber) run() {
	if s.done != nil {
		defer close(s.done)
	}
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		if len(b) < 32 && strings.Contains(string(b), `"ping"`) {
			_ = s.conn.WriteText(pongFrame)
			continue
		}
		s.received.Add(1)
		if s.onMsg != nil {
			s.onMsg(b)
		}
	}
}

// openSubscribers opens n subscribers with bounded concurrency, spreading
// them over channels, and starts their readers.
func openSubscribers(ctx context.Context, nodeURL string, src *sourceDialer, n int, channel func(i int) string, progress func()) ([]*wsSubscriber, *sync.WaitGroup, error) {
	subs := make([]*wsSubscriber, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	errs := make(chan error, 1)
	var dialing sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case err := <-errs:
			return nil, nil, err
		}
		dialing.Add(1)
		go func(i int) {
			defer dialing.Done()
			defer func() { <-sem }()
			s, err := dialSubscriber(ctx, nodeURL, src.dialer(), channel(i))
			if err != nil {
				select {
				case errs <- fmt.Errorf("subscriber %d: %w", i, err):
				default:
				}
				return
			}
			subs[i] = s
			wg.Add(1)
			go func() { defer wg.Done(); s.run() }()
			if progress != nil {
				progress()
			}
		}(i)
	}
	dialing.Wait()
	select {
	case err := <-errs:
		closeSubscribers(subs)
		wg.Wait()
		return nil, nil, err
	default:
	}
	return subs, &wg, nil
}

func closeSubscribers(subs []*wsSubscriber) {
	for _, s := range subs {
		if s != nil {
			s.conn.Close()
		}
	}
}

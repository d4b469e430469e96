package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// The transports a load scenario runs over, named as the node names them
// (stream.Transport), and the raw-TCP floor.
const (
	WebSocket = string(stream.WebSocket)
	SSE       = string(stream.SSE)
	LongPoll  = string(stream.LongPoll)
	Poll      = string(stream.Poll)
	GRPC      = string(stream.GRPC)
	// Floor is plain TCP to a fan-out server that does nothing but write
	// the same bytes to every connection: the machine's floor.
	Floor = "tcp"
	// FloorLongPoll is long polling against the floor server, which
	// answers each poll with a canned reply of a node's size: the least
	// an HTTP long-poll server can do (see floorpoll.go).
	FloorLongPoll = "longpoll-floor"
)

// IsFloor reports whether transport is one of the floor's.
func IsFloor(transport string) bool { return transport == Floor || transport == FloorLongPoll }

// FloorFor is the floor a transport's runs are read beside: the long-poll
// floor for long polling, the raw-TCP floor for the others.
func FloorFor(transport string) string {
	if transport == LongPoll {
		return FloorLongPoll
	}
	return Floor
}

// Transports lists the node's transports, best first.
var Transports = []string{WebSocket, SSE, LongPoll, Poll, GRPC}

// The load scenarios (broadcast, channels) read with lean subscribers of
// their own rather than with the Go client: a client.Client decodes every
// publication, queues it as an event and runs several goroutines, which on
// one load-generating core would make the benchmark, not the node, the
// bottleneck at 10,000 subscribers. These readers find the offset and the
// send time with a byte search (gRPC: protowire, see grpcconn.go) and
// count. The storm scenario, whose subject is resume, uses the Go client
// (gRPC: a resuming subscriber of its own, see grpcstorm.go).

// fleet is the subscribers of one run: their readers, and what they count.
type fleet struct {
	sink      *sink
	transport string
	nodeURL   string // the node (every transport but the floors)
	floorAddr string // the floor server (Floor, FloorLongPoll)
	src       *sourceDialer
	hc        *http.Client // SSE and polls: one connection per request in flight
	interval  time.Duration

	ctx     context.Context // ends every reader
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing atomic.Bool
	ended   atomic.Int64 // readers whose connection ended before the run did
	// endedBy is why the first of them ended, where its reader can tell
	// (gRPC: the Disconnect event or the status); empty otherwise.
	endedBy atomic.Pointer[string]

	mu      sync.Mutex
	closers []func()
}

func newFleet(ctx context.Context, transport, nodeURL, floorAddr string, src *sourceDialer, n int, interval time.Duration) *fleet {
	f := &fleet{sink: newSink(), transport: transport, nodeURL: nodeURL, floorAddr: floorAddr, src: src, interval: interval}
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return src.dialer().DialContext(ctx, network, addr)
		},
		MaxIdleConns:        n + 64,
		MaxIdleConnsPerHost: n + 64,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     1024,
		ReadBufferSize:      2048,
	}}
	return f
}

// close ends every reader and waits for them.
func (f *fleet) close() {
	f.closing.Store(true)
	f.cancel()
	f.mu.Lock()
	closers := f.closers
	f.closers = nil
	f.mu.Unlock()
	for _, c := range closers {
		c()
	}
	f.wg.Wait()
	f.hc.CloseIdleConnections()
}

// start runs a reader; closer ends its connection.
func (f *fleet) start(read func(), closer func()) {
	f.mu.Lock()
	f.closers = append(f.closers, closer)
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		read()
		if !f.closing.Load() {
			f.ended.Add(1)
		}
	}()
}

// endedWith notes why a reader's connection ended, if it is the first to
// end before the run did.
func (f *fleet) endedWith(cause string) {
	if !f.closing.Load() {
		f.endedBy.CompareAndSwap(nil, &cause)
	}
}

// open connects subscriber i to channel and returns once it is subscribed,
// with its reader running.
func (f *fleet) open(ctx context.Context, i int, channel string) error {
	switch f.transport {
	case WebSocket:
		return f.openWS(ctx, i, channel)
	case SSE:
		return f.openSSE(ctx, i, channel)
	case LongPoll, Poll:
		return f.openPoll(ctx, i, channel)
	case GRPC:
		return f.openGRPC(ctx, i, channel)
	case Floor:
		return f.openFloor(ctx, i, channel)
	case FloorLongPoll:
		return f.openPoll(ctx, i, channel)
	}
	return fmt.Errorf("unknown transport %q", f.transport)
}

var messagePrefix = []byte(`{"type":"message"`)

func (f *fleet) openWS(ctx context.Context, i int, channel string) error {
	s, err := dialSubscriber(ctx, f.nodeURL, f.src.dialer(), channel)
	if err != nil {
		return err
	}
	var pos position
	s.onMsg = func(b []byte) {
		if !bytes.HasPrefix(b, messagePrefix) {
			return
		}
		if off, sent, end := scanPublication(b); end >= 0 {
			f.sink.deliver(i, &pos, off, sent)
		}
	}
	f.start(s.run, func() { s.conn.Close() })
	return nil
}

var (
	ssePrefixData      = []byte("data: ")
	ssePrefixEvent     = []byte("event:")
	sseEventConnected  = []byte("event: connected")
	errUnexpectedReply = errors.New("unexpected reply")
)

func (f *fleet) openSSE(ctx context.Context, i int, channel string) error {
	// The stream lives as long as the fleet; ctx bounds opening it only.
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.nodeURL+"/connection/sse?channel="+url.QueryEscape(channel), nil)
	if err != nil {
		return err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return fmt.Errorf("sse: status %d", resp.StatusCode)
	}
	br := bufio.NewReaderSize(resp.Body, 1024)
	// Read up to the end of the connected event: from then on, every
	// publication reaches this stream.
	connected := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			resp.Body.Close()
			return fmt.Errorf("sse: before the connected event: %w", err)
		}
		if bytes.HasPrefix(line, sseEventConnected) {
			connected = true
		}
		if connected && len(bytes.TrimSpace(line)) == 0 {
			break
		}
	}
	var pos position
	read := func() {
		named := false // the event has a name: not a publication
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			switch {
			case len(line) <= 2 && len(bytes.TrimSpace(line)) == 0:
				named = false
			case bytes.HasPrefix(line, ssePrefixEvent):
				named = true
			case !named && bytes.HasPrefix(line, ssePrefixData):
				if off, sent, end := scanPublication(line); end >= 0 {
					f.sink.deliver(i, &pos, off, sent)
				}
			}
		}
	}
	f.start(read, func() { resp.Body.Close() })
	return nil
}

var (
	keyCursor = []byte(`"cursor":"`)
	keyClient = []byte(`"client":"`)
)

// openPoll takes the channel's position with a short poll, then polls from
// it, held (LongPoll) or every interval (Poll), until the fleet closes.
func (f *fleet) openPoll(ctx context.Context, i int, channel string) error {
	origin := f.nodeURL
	if f.transport == FloorLongPoll {
		origin = "http://" + f.floorAddr
	}
	base := origin + "/connection/poll?channel=" + url.QueryEscape(channel)
	var buf bytes.Buffer
	var pos position
	// The client id the first reply gave, sent back as the SDKs send it.
	var client string
	poll := func(ctx context.Context, cursor string, hold time.Duration) (string, error) {
		u := base + "&timeout=" + strconv.Itoa(int(hold/time.Second))
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		if client != "" {
			u += "&client=" + client
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		resp, err := f.hc.Do(req)
		if err != nil {
			return "", err
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("poll: status %d: %.200s", resp.StatusCode, buf.Bytes())
		}
		b := buf.Bytes()
		c := bytes.LastIndex(b, keyCursor)
		if c < 0 {
			return "", errUnexpectedReply
		}
		next := b[c+len(keyCursor):]
		end := bytes.IndexByte(next, '"')
		if end < 0 {
			return "", errUnexpectedReply
		}
		if client == "" {
			if k := bytes.LastIndex(b, keyClient); k >= 0 {
				id := b[k+len(keyClient):]
				if e := bytes.IndexByte(id, '"'); e > 0 {
					client = string(id[:e])
				}
			}
		}
		for pubs := b[:c]; ; {
			off, sent, n := scanPublication(pubs)
			if n < 0 {
				break
			}
			f.sink.deliver(i, &pos, off, sent)
			pubs = pubs[n:]
		}
		return string(next[:end]), nil
	}
	cursor, err := poll(ctx, "", 0)
	if err != nil {
		return err
	}
	hold := 25 * time.Second
	if f.transport == Poll {
		hold = 0
	}
	read := func() {
		for {
			next, err := poll(f.ctx, cursor, hold)
			if err != nil {
				return
			}
			cursor = next
			if hold == 0 {
				select {
				case <-time.After(f.interval):
				case <-f.ctx.Done():
					return
				}
			}
		}
	}
	f.start(read, func() {})
	return nil
}

func (f *fleet) openFloor(ctx context.Context, i int, channel string) error {
	c, err := f.src.dialer().DialContext(ctx, "tcp", f.floorAddr)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(c, "S "+channel+"\n"); err != nil {
		c.Close()
		return err
	}
	br := bufio.NewReaderSize(c, 1024)
	if line, err := br.ReadSlice('\n'); err != nil || string(line) != "ok\n" {
		c.Close()
		return fmt.Errorf("floor: subscribe: %q %v", line, err)
	}
	var pos position
	read := func() {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if off, sent, end := scanPublication(line); end >= 0 {
				f.sink.deliver(i, &pos, off, sent)
			}
		}
	}
	f.start(read, func() { c.Close() })
	return nil
}

// openAll opens n subscribers, up to 100 at a time, calling progress after
// each.
func openAll(ctx context.Context, n int, open func(ctx context.Context, i int) error, progress func()) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := open(ctx, i); err != nil {
				cancel(fmt.Errorf("subscriber %d: %w", i, err))
				return
			}
			if progress != nil {
				progress()
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

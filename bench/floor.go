package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The raw-TCP floor is the least a fan-out server can do on this machine:
// it keeps plain TCP connections, no goroutine and no buffer per idle one,
// builds each publication's message once, and writes to each subscriber's
// socket everything published since its last write in one write. The load scenarios run
// against it exactly as against a node, with the same subscriber count and
// the same message bytes (a WebSocket-shaped message line), so every result
// can be read as a ratio to the floor.
//
// Its protocol is lines. A subscriber sends "S <channel>\n" and gets
// "ok\n", then one line per publication. A publisher sends "P\n", then
// "<channel> <payload>\n" per publication and gets "ok\n" once it is
// handed to the fan-out. A connection that starts with "GET " is a long
// poll instead (see floorpoll.go).

// ServeFloor serves the floor on ln until ctx ends, then closes every
// connection and returns.
func ServeFloor(ctx context.Context, ln net.Listener) error {
	f := &floorServer{chans: make(map[string]*floorChannel), conns: make(map[net.Conn]bool),
		pubs: make(chan floorPub, 256), stop: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		f.closeAll()
	})
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(f.stop)
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.fanout()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			f.closeAll()
			return err
		}
		if !f.track(c) {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.serve(c)
		}()
	}
}

type floorServer struct {
	mu     sync.Mutex
	chans  map[string]*floorChannel
	conns  map[net.Conn]bool
	closed bool
	pubs   chan floorPub
	stop   chan struct{} // closed when ServeFloor returns
}

// floorChannel is one channel. Its offset, msg, batched and pollBatch
// belong to the fan-out goroutine; mu guards subs and the long polls'
// state (floorPolls).
type floorChannel struct {
	name   string
	mu     sync.Mutex
	subs   []net.Conn
	offset uint64
	msg    []byte
	// batched: the channel has publications in the batch being written.
	batched bool
	// polled is set once a long poll asked for the channel: its
	// publications are kept for polls rather than written as lines.
	polled    atomic.Bool
	pollBatch [][]byte // the batch's publications, for polls
	polls     floorPolls
}

func (f *floorServer) channel(name string) *floorChannel {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.chans[name]
	if ch == nil {
		ch = &floorChannel{name: name}
		f.chans[name] = ch
	}
	return ch
}

func (f *floorServer) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = true
	return true
}

func (f *floorServer) closeAll() {
	f.mu.Lock()
	f.closed = true
	conns := f.conns
	f.conns = map[net.Conn]bool{}
	f.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// serve reads a connection's first line. A subscriber is registered and
// left without a goroutine; a publisher is served until it leaves.
func (f *floorServer) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadSlice('\n')
	if err != nil {
		c.Close()
		return
	}
	switch {
	case len(line) > 3 && line[0] == 'S' && line[1] == ' ':
		ch := f.channel(string(line[2 : len(line)-1]))
		ch.mu.Lock()
		ch.subs = append(ch.subs[:len(ch.subs):len(ch.subs)], c) // a new array: fanout reads the old one
		_, _ = io.WriteString(c, "ok\n")
		ch.mu.Unlock()
	case string(line) == "P\n":
		f.publisher(c, br)
	case bytes.HasPrefix(line, []byte("GET ")):
		f.poller(c, br, line)
	default:
		c.Close()
	}
}

// publisher hands each publication of one publisher connection to the
// fan-out goroutine and acknowledges it at once, as a node acknowledges a
// publish once it is queued to the subscribers.
func (f *floorServer) publisher(c net.Conn, br *bufio.Reader) {
	defer c.Close()
	ok := []byte("ok\n")
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return
		}
		p := floorPub{ch: f.channel(string(line[:sp])), payload: bytes.Clone(line[sp+1 : len(line)-1])}
		select {
		case f.pubs <- p:
		case <-f.stop:
			return
		}
		if _, err := c.Write(ok); err != nil {
			return
		}
	}
}

// floorPub is one publication on its way to the fan-out goroutine.
type floorPub struct {
	ch      *floorChannel
	payload []byte
}

// fanout writes publications to subscribers. Like a node's session
// writer, it coalesces: every publication waiting when it wakes is written
// to each subscriber in one write.
func (f *floorServer) fanout() {
	var batch []floorPub
	var touched []*floorChannel
	for {
		select {
		case p := <-f.pubs:
			batch = append(batch[:0], p)
		case <-f.stop:
			return
		}
	more:
		for len(batch) < 256 {
			select {
			case p := <-f.pubs:
				batch = append(batch, p)
			default:
				break more
			}
		}
		now := time.Now()
		touched = touched[:0]
		for _, p := range batch {
			ch := p.ch
			if !ch.batched {
				ch.batched = true
				touched = append(touched, ch)
			}
			ch.offset++
			if ch.polled.Load() {
				ch.pollBatch = append(ch.pollBatch, appendFloorPublication(nil, ch.name, ch.offset, p.payload, now))
				continue
			}
			ch.msg = appendFloorMessage(ch.msg, ch.name, ch.offset, p.payload, now)
		}
		for _, ch := range touched {
			ch.batched = false
			if len(ch.pollBatch) > 0 {
				ch.answerPolls(now)
			}
			if len(ch.msg) == 0 {
				continue
			}
			ch.mu.Lock()
			subs := ch.subs
			ch.mu.Unlock()
			for _, s := range subs {
				_, _ = s.Write(ch.msg)
			}
			ch.msg = ch.msg[:0]
		}
	}
}

// appendFloorMessage builds the floor's message line: the shape and size
// of a node's WebSocket message frame, with a newline for a frame header.
func appendFloorMessage(dst []byte, ch string, offset uint64, data []byte, t time.Time) []byte {
	dst = append(dst, `{"type":"message","channel":"`...)
	dst = append(dst, ch...)
	dst = append(dst, `","epoch":"floor0000000","offset":`...)
	dst = strconv.AppendUint(dst, offset, 10)
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, t.UnixMilli(), 10)
	return append(dst, "}\n"...)
}

// floorPublisher publishes to the floor over one connection.
type floorPublisher struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

func dialFloorPublisher(ctx context.Context, addr string) (*floorPublisher, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "P\n"); err != nil {
		c.Close()
		return nil, err
	}
	return &floorPublisher{c: c, br: bufio.NewReader(c)}, nil
}

func (p *floorPublisher) publish(ctx context.Context, channel string, size int) (uint64, error) {
	p.buf = append(p.buf[:0], channel...)
	p.buf = append(p.buf, ' ')
	p.buf = appendPayload(p.buf, time.Now(), size)
	p.buf = append(p.buf, '\n')
	if dl, ok := ctx.Deadline(); ok {
		_ = p.c.SetDeadline(dl)
	}
	if _, err := p.c.Write(p.buf); err != nil {
		return 0, err
	}
	line, err := p.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if string(line) != "ok\n" {
		return 0, errUnexpectedReply
	}
	return 0, nil
}

func (p *floorPublisher) close() { p.c.Close() }

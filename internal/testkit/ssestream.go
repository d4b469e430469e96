package testkit

import (
	"io"
	"testing"
	"time"
)

// SSEStream is an open event stream as a test reads it: a goroutine parses
// it with an [SSEReader] and hands each block over as the test asks, and
// every read fails the test if nothing comes within [Wait]. Reading starts
// with the first read, so a test can hold a stream open without reading it,
// as a stalled client does.
//
// A block holding lines EventSource would ignore ([SSEEvent.Unknown]) fails
// the test: a server that speaks the protocol sends none.
//
// An SSEStream belongs to one test goroutine.
type SSEStream struct {
	t       testing.TB
	body    io.ReadCloser
	events  chan SSEEvent
	err     error // why the stream ended; read once events is closed
	done    chan struct{}
	exited  chan struct{}
	started bool
}

// NewSSEStream reads the event stream body, which it closes when t ends or
// at [SSEStream.Close].
func NewSSEStream(t testing.TB, body io.ReadCloser) *SSEStream {
	s := &SSEStream{t: t, body: body, events: make(chan SSEEvent), done: make(chan struct{}), exited: make(chan struct{})}
	t.Cleanup(s.Close)
	return s
}

func (s *SSEStream) read() {
	defer close(s.exited)
	defer close(s.events)
	r := NewSSEReader(s.body)
	for {
		ev, err := r.Next()
		if err != nil {
			s.err = err
			return
		}
		select {
		case s.events <- ev:
		case <-s.done:
			return
		}
	}
}

// blocks returns the channel of parsed blocks, starting the reader.
func (s *SSEStream) blocks() <-chan SSEEvent {
	if !s.started {
		s.started = true
		go s.read()
	}
	return s.events
}

// Close cuts the connection, as a browser tab going away does, and waits
// for the reader. Closing twice is fine.
func (s *SSEStream) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.body.Close()
	if s.started {
		<-s.exited
	}
}

// Block returns the next block of any kind. It fails the test if the
// stream ends first.
func (s *SSEStream) Block() SSEEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.blocks():
		if !ok {
			s.t.Fatalf("stream ended: %v", s.err)
		}
		s.strict(ev)
		return ev
	case <-time.After(Wait):
		s.t.Fatalf("no event within %v", Wait)
	}
	panic("unreachable")
}

// Next returns the next block that dispatches an event, skipping the node's
// pings.
func (s *SSEStream) Next() SSEEvent {
	s.t.Helper()
	for {
		if ev := s.Block(); ev.HasData && ev.Event != "ping" {
			return ev
		}
	}
}

// End reads to the end of the stream, which must come cleanly (the server
// ends the response) within [Wait], and returns the last block that had
// data: what the server said last.
func (s *SSEStream) End() SSEEvent {
	s.t.Helper()
	var last SSEEvent
	timeout := time.After(Wait)
	for {
		select {
		case ev, ok := <-s.blocks():
			if !ok {
				if s.err != io.EOF {
					s.t.Fatalf("stream ended with %v", s.err)
				}
				return last
			}
			s.strict(ev)
			if ev.HasData {
				last = ev
			}
		case <-timeout:
			s.t.Fatalf("stream did not end within %v", Wait)
		}
	}
}

func (s *SSEStream) strict(ev SSEEvent) {
	s.t.Helper()
	if len(ev.Unknown) > 0 {
		s.t.Fatalf("stream sent lines EventSource ignores: %q", ev.Unknown)
	}
}

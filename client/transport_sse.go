package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// sseConn reads a Server-Sent Events stream. The stream names every channel,
// so a change of subscriptions opens a new stream, from the positions
// reached, with a cursor the client builds itself. Only the goroutine that
// opens and runs the connection touches its fields below the restarter.
type sseConn struct {
	c *Client
	restarter

	body  io.ReadCloser
	r     *bufio.Reader
	chans map[string]*Subscription // the channels of the open stream
	held  *sseEvent                // the connected event, read by open, handled by run
	// confirmed holds the subscriptions this connection has confirmed,
	// so a stream reopened for a new channel reports only that one.
	confirmed map[*Subscription]bool
	idle      *time.Timer
	silent    atomic.Bool
}

var _ conn = (*sseConn)(nil)

// sseEvent is one dispatched event.
type sseEvent struct {
	name string
	data []byte
	id   string
}

// openSSE opens a stream for the current subscriptions and reads its first
// event. With no subscription there is nothing to open: once the endpoint
// is known to answer, the connection waits for one.
func (c *Client) openSSE(ctx context.Context) (conn, error) {
	s := &sseConn{c: c, restarter: newRestarter(), confirmed: make(map[*Subscription]bool)}
	want := c.subscriptions()
	if len(want) == 0 {
		if err := c.reach(ctx, c.eps.SSE); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := s.open(ctx, want); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *sseConn) transport() Transport { return SSE }

func (s *sseConn) close() {
	s.abort()
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	if s.body != nil {
		s.body.Close()
		s.body, s.r = nil, nil
	}
}

func (s *sseConn) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, s.abort)
	defer stop()
	defer s.close()
	for {
		s.takeChanged()
		want := s.c.subscriptions()
		if s.body == nil || !sameSet(want, s.chans) {
			s.close()
			s.chans = nil
			if len(want) == 0 {
				if !s.waitKick(ctx) {
					return ctx.Err()
				}
				continue
			}
			if err := s.open(ctx, want); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if s.takeChanged() {
					continue
				}
				return err
			}
		}
		if s.held != nil {
			s.connected(s.held)
			s.held = nil
		}
		err := s.read()
		s.close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.takeChanged() {
			continue
		}
		return err
	}
}

// open opens a stream for want, ending the subscriptions the node refuses.
func (s *sseConn) open(ctx context.Context, want map[string]*Subscription) error {
	for {
		err := s.request(ctx, want)
		if err == nil || !channelRefused(err) {
			return err
		}
		if !s.c.refuseChannels(ctx, want, err, s.probe) {
			return err
		}
		if want = s.c.subscriptions(); len(want) == 0 {
			return nil
		}
	}
}

// request opens one stream and reads up to its first event, which must come
// within OpenTimeout.
func (s *sseConn) request(ctx context.Context, want map[string]*Subscription) error {
	c := s.c
	rctx, cancel := s.begin(ctx)
	req, tok, err := c.newRequest(rctx, http.MethodGet, streamURL(c.eps.SSE, want, nil), nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	late := time.AfterFunc(c.opts.OpenTimeout, cancel)
	fail := func(err error) error {
		late.Stop()
		cancel()
		s.close()
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fail(err)
	}
	s.body, s.r = resp.Body, bufio.NewReader(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fail(c.answerError(resp, tok))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fail(fmt.Errorf("%w: Content-Type %q", errNotStream, resp.Header.Get("Content-Type")))
	}
	ev, err := s.next()
	if !late.Stop() {
		return fail(fmt.Errorf("no first event within %s", c.opts.OpenTimeout))
	}
	if err != nil {
		return fail(fmt.Errorf("stream ended before its first event: %w", err))
	}
	switch ev.name {
	case "connected":
	case "disconnect", "error":
		return fail(eventError(ev))
	default:
		return fail(fmt.Errorf("%w: first event %q, not connected", errNotStream, ev.name))
	}
	s.held, s.chans = &ev, want
	silence := time.Duration(c.pingInterval.Load()) + c.opts.PingGrace
	s.silent.Store(false)
	s.idle = time.AfterFunc(silence, func() {
		s.silent.Store(true)
		cancel()
	})
	return nil
}

// probe asks for one channel alone, to see whether the node refuses it.
func (s *sseConn) probe(ctx context.Context, ch string) error {
	c := s.c
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	// An accepted stream is closed at once: only a refusal says anything.
	resp, err := c.get(ctx, streamURL(c.eps.SSE, map[string]*Subscription{ch: {channel: ch}}, nil))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// read handles events until the stream ends, and says why it ended.
func (s *sseConn) read() error {
	for {
		ev, err := s.next()
		if err != nil {
			if s.silent.Load() {
				return fmt.Errorf("%w for %s", errSilent, time.Duration(s.c.pingInterval.Load())+s.c.opts.PingGrace)
			}
			return fmt.Errorf("sse stream: %w", err)
		}
		switch ev.name {
		case "":
			f, err := protocol.DecodeFrame(ev.data)
			if err != nil {
				s.c.log.Warn("unreadable publication from the node", "err", err)
				continue
			}
			p := f.Publication()
			if sub := s.chans[p.Channel]; sub != nil && s.confirmed[sub] {
				sub.deliver(p)
			}
		case protocol.TypeGap:
			f, err := protocol.DecodeFrame(ev.data)
			if err != nil {
				s.c.log.Warn("unreadable gap event from the node", "err", err)
				continue
			}
			if sub := s.chans[f.Channel]; sub != nil && s.confirmed[sub] {
				sub.epochChanged(f.Epoch)
			}
		case "connected":
			s.connected(&ev)
		case protocol.TypeJoin, protocol.TypeLeave:
			if f, err := protocol.DecodeFrame(ev.data); err == nil && s.chans[f.Channel] != nil {
				s.c.presenceFrame(f)
			}
		case "disconnect", "error":
			return eventError(ev)
		}
	}
}

// connected confirms the stream's subscriptions. Its id is a cursor with the
// position each channel starts from.
func (s *sseConn) connected(ev *sseEvent) {
	var d struct {
		Channels map[string]struct {
			Epoch     string `json:"epoch"`
			Offset    uint64 `json:"offset"`
			Recovered bool   `json:"recovered"`
		} `json:"channels"`
		PingInterval int `json:"ping_interval"`
	}
	if err := json.Unmarshal(ev.data, &d); err != nil {
		s.c.log.Warn("unreadable connected event", "err", err)
	}
	if d.PingInterval > 0 {
		// The node's pings are events on the stream: silence longer than
		// its interval plus the grace period means a dead stream.
		s.c.pingInterval.Store(int64(time.Duration(d.PingInterval) * time.Second))
	}
	cur, err := stream.ParseCursor(ev.id)
	if err != nil {
		s.c.log.Warn("unreadable cursor in the connected event", "err", err)
	}
	for ch, sub := range s.chans {
		st, ok := d.Channels[ch]
		if !ok {
			continue
		}
		latest := stream.Position{Epoch: st.Epoch, Offset: st.Offset}
		start, ok := cur.Get(ch)
		if !ok {
			start = latest
		}
		sub.confirm(st.Recovered, latest, start, !s.confirmed[sub])
		s.confirmed[sub] = true
	}
}

// eventError turns a disconnect or error event into its error.
func eventError(ev sseEvent) error {
	f, err := protocol.DecodeFrame(ev.data)
	switch {
	case err != nil:
		return fmt.Errorf("unreadable %s event: %w", ev.name, err)
	case ev.name == "disconnect":
		return protocol.Disconnect{Code: f.Code, Reason: f.Reason, Reconnect: f.Reconnect}
	case f.Error != nil:
		return *f.Error
	}
	return fmt.Errorf("error event without an error: %s", ev.data)
}

// next reads up to the next event with data, as EventSource dispatches
// them: comments and retry lines only show the stream is alive.
func (s *sseConn) next() (sseEvent, error) {
	var ev sseEvent
	var data [][]byte
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			return ev, err
		}
		if s.idle != nil {
			s.idle.Reset(time.Duration(s.c.pingInterval.Load()) + s.c.opts.PingGrace)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if data != nil {
				ev.data = bytes.Join(data, []byte{'\n'})
				return ev, nil
			}
			ev = sseEvent{}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "event":
			ev.name = string(value)
		case "data":
			data = append(data, value)
		case "id":
			ev.id = string(value)
		}
	}
}

package grpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/switchboardhq/switchboard/hub"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// Subscribe opens one session with every channel the request names and
// streams its events until the session ends (see [Service.subscribe]).
func (s *Service) Subscribe(ctx context.Context, r *connect.Request[switchboardv1.SubscribeRequest], st *connect.ServerStream[switchboardv1.SubscribeResponse]) error {
	return s.subscribe(ctx, callOf(r), r.Msg, false, st)
}

// subscribeRaw is Subscribe for a request this package decodes (see
// codec.go); the stream's events are in the request's format.
func (s *Service) subscribeRaw(ctx context.Context, r *connect.Request[raw], st *connect.ServerStream[switchboardv1.SubscribeResponse]) error {
	m := new(switchboardv1.SubscribeRequest)
	if err := decodeRequest(r.Msg, m); err != nil {
		return s.fail(r.Spec().Procedure, err)
	}
	return s.subscribe(ctx, callOf(r), m, r.Msg.json, st)
}

// subscribe opens the session, subscribes every channel from its position
// (the same hub calls, and the same recovered, as an SSE stream), then
// writes: Connected, a Subscribed per channel, then whatever the
// subscriptions queued (the replays, in order, ahead of live
// publications), until the session ends. The stream's last event is a
// Disconnect, and the status that follows says the same (see
// disconnectError). A request refused before the session opens ends with
// its error alone.
//
// This goroutine is the stream's only writer: it waits for the session's
// queue and sends everything queued, the bytes the hub encoded once for
// every stream of the format.
func (s *Service) subscribe(ctx context.Context, c call, m *switchboardv1.SubscribeRequest, json bool, st *connect.ServerStream[switchboardv1.SubscribeResponse]) error {
	const procedure = "/switchboard.v1.ClientService/Subscribe"
	id, err := s.identity(c)
	if err != nil {
		return s.fail(procedure, err)
	}
	if err := s.checkChannels(m.Channels); err != nil {
		return s.fail(procedure, err)
	}
	sess, err := s.cfg.Hub.NewSession(hub.SessionOptions{Identity: id, Transport: stream.GRPC, Encoder: encoderFor(json)})
	if err != nil {
		return s.fail(procedure, err)
	}
	defer sess.Close()
	results := make([]hub.SubscribeResult, 0, len(m.Channels))
	for _, ch := range m.Channels {
		res, err := subscribeOne(ctx, sess, ch)
		if err != nil {
			return s.fail(procedure, err)
		}
		results = append(results, res)
	}
	s.track(sess)
	defer s.untrack(sess)

	w := &writer{st: st, timeout: s.cfg.WriteTimeout}
	if rw, ok := ctx.Value(responseKey{}).(http.ResponseWriter); ok {
		w.rw, w.rc = rw, http.NewResponseController(rw)
	}
	if err := w.send(connected(sess.ID(), s.cfg.Hub.Config().PingInterval)); err != nil {
		return err
	}
	for _, res := range results {
		if err := w.send(subscribed(res)); err != nil {
			return err
		}
	}
	var items []hub.Item
	for {
		select {
		case <-sess.Ready():
			items = sess.Take(items)
			if err := w.items(items); err != nil {
				return err
			}
		case <-sess.Done():
			return s.end(ctx, sess, w, items)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// end writes the last of a stream whose session the hub ended: what was
// still queued (not to a slow client, which is why it ended), then the
// Disconnect event; it returns the status.
func (s *Service) end(ctx context.Context, sess *hub.Session, w *writer, items []hub.Item) error {
	if ctx.Err() != nil {
		return ctx.Err() // the client is gone: nobody to tell
	}
	cause := sess.Cause()
	if !errors.Is(cause, stream.ErrSlowConsumer) {
		if err := w.items(sess.Take(items)); err != nil {
			return err
		}
	}
	d := protocol.DisconnectFor(cause)
	if err := w.send(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Disconnect{Disconnect: &switchboardv1.Disconnect{
		Code: d.Code, Reason: d.Reason, Reconnect: d.Reconnect,
	}}}); err != nil {
		return err
	}
	return disconnectError(d, cause)
}

// checkChannels applies the rules an SSE stream's channel list follows
// (transport.Channels): at least one, at most the node's channels per
// connection, valid names, no repeats, positions with an epoch.
func (s *Service) checkChannels(chans []*switchboardv1.ChannelRequest) error {
	if len(chans) == 0 {
		return fmt.Errorf("%w: at least one channel is required", stream.ErrBadRequest)
	}
	if max := s.cfg.Hub.Config().MaxChannels; len(chans) > max {
		return fmt.Errorf("%w: %d channels, at most %d per connection", stream.ErrLimitExceeded, len(chans), max)
	}
	seen := make(map[string]bool, len(chans))
	for _, c := range chans {
		if err := stream.ValidateChannel(c.Channel); err != nil {
			return err
		}
		if seen[c.Channel] {
			return fmt.Errorf("%w: channel %q given twice", stream.ErrBadRequest, c.Channel)
		}
		seen[c.Channel] = true
		if c.Since != nil && c.Since.Epoch == "" {
			return fmt.Errorf("%w: channel %q: a position needs its epoch", stream.ErrBadRequest, c.Channel)
		}
	}
	return nil
}

// subscribeOne joins one channel from the client's position, if it gave
// one.
func subscribeOne(ctx context.Context, sess *hub.Session, c *switchboardv1.ChannelRequest) (hub.SubscribeResult, error) {
	var opts hub.SubscribeOptions
	if c.Since != nil {
		opts.Since = &stream.Position{Epoch: c.Since.Epoch, Offset: c.Since.Offset}
	}
	res, err := sess.Subscribe(ctx, c.Channel, opts)
	if err != nil {
		// A session ended while subscribing says why it ended (shutdown,
		// connection limit) better than "closed" does.
		if errors.Is(err, stream.ErrClosed) {
			if cause := sess.Cause(); cause != nil && !errors.Is(cause, stream.ErrClosed) {
				err = cause
			}
		}
		return res, fmt.Errorf("channel %q: %w", c.Channel, err)
	}
	return res, nil
}

func (s *Service) track(sess *hub.Session) {
	s.mu.Lock()
	s.sessions[sess.ID()] = sess
	s.mu.Unlock()
}

func (s *Service) untrack(sess *hub.Session) {
	s.mu.Lock()
	if s.sessions[sess.ID()] == sess {
		delete(s.sessions, sess.ID())
	}
	s.mu.Unlock()
}

func connected(client string, ping time.Duration) *switchboardv1.SubscribeResponse {
	return &switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Connected{Connected: &switchboardv1.Connected{
		Client: client, PingInterval: uint32((ping + time.Second - 1) / time.Second),
	}}}
}

func subscribed(r hub.SubscribeResult) *switchboardv1.SubscribeResponse {
	return &switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Subscribed{Subscribed: &switchboardv1.Subscribed{
		Channel: r.Channel, Epoch: r.Latest.Epoch, Offset: r.Latest.Offset, Recovered: r.Recovered,
	}}}
}

// responseKey carries a stream's http.ResponseWriter to its handler (see
// Service.Handler), for its write deadlines.
type responseKey struct{}

// writer sends a stream's events, each batch under the write timeout.
type writer struct {
	st      *connect.ServerStream[switchboardv1.SubscribeResponse]
	rw      http.ResponseWriter      // nil: through st only
	rc      *http.ResponseController // nil: no deadlines
	timeout time.Duration
}

func (w *writer) begin() {
	if w.rc != nil {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

// done lifts the deadline: an idle HTTP/2 stream with one pending would be
// reset when it passed.
func (w *writer) done() {
	if w.rc != nil {
		_ = w.rc.SetWriteDeadline(time.Time{})
	}
}

// send writes one event that is not shared (connected, subscribed,
// disconnect): the codec marshals it.
func (w *writer) send(m *switchboardv1.SubscribeResponse) error {
	w.begin()
	defer w.done()
	return w.st.Send(m)
}

// items writes what the session queued: bytes the hub encoded once, in
// the streamed-message framing every protocol shares (see encoder), so
// they go to the response as they are, with one flush for the batch (one
// DATA frame run and one write for HTTP/2, not one per message). Connect
// wrote the response headers with the Connected event, and writes the
// trailers when the handler returns; a message not compressed is valid
// whatever compression the call negotiated.
func (w *writer) items(items []hub.Item) error {
	if len(items) == 0 {
		return nil
	}
	w.begin()
	defer w.done()
	if w.rw != nil {
		for _, it := range items {
			if _, err := w.rw.Write(it.Bytes); err != nil {
				return err
			}
		}
		return w.rc.Flush()
	}
	conn := w.st.Conn()
	var err error
	f := new(frame)
	for _, it := range items {
		messages(it.Bytes, func(b []byte) bool {
			f.b = b
			err = conn.Send(f)
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

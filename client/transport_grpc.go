package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/switchboardhq/switchboard/internal/grpcerr"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// grpcConn follows the subscriptions over one
// switchboard.v1.ClientService/Subscribe call: gRPC over HTTP/2, with prior
// knowledge (h2c) for an http:// URL and over TLS for https://. Like an SSE
// stream, a call names every channel with its position, so a change of
// subscriptions opens a new call from the positions reached; the
// publications a reopened call replays up to them are dropped as
// duplicates. Only the goroutine that opens and runs the connection
// touches its fields below the restarter.
type grpcConn struct {
	c *Client
	restarter

	st    *connect.ServerStreamForClient[switchboardv1.SubscribeResponse]
	tok   string                     // the token the open call carries
	chans map[string]*Subscription   // the channels of the open call
	since map[string]stream.Position // the positions it was opened from
	// confirmed holds the subscriptions this connection has confirmed,
	// so a call reopened for a new channel reports only that one.
	confirmed map[*Subscription]bool
	idle      *time.Timer
	silent    atomic.Bool
}

var _ conn = (*grpcConn)(nil)

// newGRPC returns the ClientService client and the HTTP/2 client under it.
// It takes the TLS settings, proxy and dialer of Options.HTTPClient's
// transport when that is an *http.Transport, else the defaults with
// Options.Dial; either way the connection speaks HTTP/2 only, as gRPC
// needs.
func newGRPC(o Options, base string) (switchboardv1connect.ClientServiceClient, *http.Client) {
	var tr *http.Transport
	if o.HTTPClient != nil {
		if t, ok := o.HTTPClient.Transport.(*http.Transport); ok {
			tr = t.Clone()
		}
	}
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
		if o.Dial != nil {
			tr.DialContext = o.Dial
		}
	}
	p := new(http.Protocols)
	if strings.HasPrefix(base, "https:") {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	tr.Protocols = p
	hc := &http.Client{Transport: tr}
	return switchboardv1connect.NewClientServiceClient(hc, base, connect.WithGRPC()), hc
}

// openGRPC opens a call for the current subscriptions and reads its first
// event, Connected. With no subscription there is nothing to open: once a
// node is known to answer gRPC, the connection waits for one.
func (c *Client) openGRPC(ctx context.Context) (conn, error) {
	g := &grpcConn{c: c, restarter: newRestarter(), confirmed: make(map[*Subscription]bool)}
	want := c.subscriptions()
	if len(want) == 0 {
		if err := c.reachGRPC(ctx); err != nil {
			return nil, err
		}
		return g, nil
	}
	if err := g.open(ctx, want); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// reachGRPC checks that the node serves the client service: a Subscribe
// naming no channel is one a node refuses with its coded "bad request"
// (107), and only a node's answer carries that code.
func (c *Client) reachGRPC(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	st, err := c.grpc.Subscribe(ctx, grpcRequest(c, &switchboardv1.SubscribeRequest{}, tok))
	if err == nil {
		st.Receive()
		err = st.Err()
		cancel()
		st.Close()
	}
	err = c.grpcError(err, tok)
	if e, ok := errors.AsType[protocol.Error](err); ok && e.Code == 107 {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%w: a Subscribe without channels was not refused", errNotStream)
	}
	return err
}

func (g *grpcConn) transport() Transport { return GRPC }

// close ends the call: its context first, so that closing does not read
// what is left of a live stream.
func (g *grpcConn) close() {
	g.abort()
	if g.idle != nil {
		g.idle.Stop()
		g.idle = nil
	}
	if g.st != nil {
		g.st.Close()
		g.st = nil
	}
}

func (g *grpcConn) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, g.abort)
	defer stop()
	defer g.close()
	for {
		g.takeChanged()
		want := g.c.subscriptions()
		if g.st == nil || !sameSet(want, g.chans) {
			g.close()
			g.chans = nil
			if len(want) == 0 {
				if !g.waitKick(ctx) {
					return ctx.Err()
				}
				continue
			}
			if err := g.open(ctx, want); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if g.takeChanged() {
					continue
				}
				return err
			}
			if g.st == nil {
				continue // every channel was refused
			}
		}
		err := g.read()
		g.close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errSilent) {
			// The HTTP/2 connection under the call is dead too; a new
			// call must not be multiplexed onto it.
			g.c.grpcHTTP.CloseIdleConnections()
		}
		if g.takeChanged() {
			continue
		}
		return err
	}
}

// open opens a call for want, ending the subscriptions the node refuses.
func (g *grpcConn) open(ctx context.Context, want map[string]*Subscription) error {
	for {
		err := g.request(ctx, want)
		if err == nil || !channelRefused(err) {
			return err
		}
		if !g.c.refuseChannels(ctx, want, err, g.probe) {
			return err
		}
		if want = g.c.subscriptions(); len(want) == 0 {
			return nil
		}
	}
}

// subscribeRequest names every channel of want, each from its position.
func subscribeRequest(want map[string]*Subscription) (*switchboardv1.SubscribeRequest, map[string]stream.Position) {
	chans := make([]string, 0, len(want))
	for ch := range want {
		chans = append(chans, ch)
	}
	slices.Sort(chans)
	m := &switchboardv1.SubscribeRequest{Channels: make([]*switchboardv1.ChannelRequest, 0, len(chans))}
	since := make(map[string]stream.Position)
	for _, ch := range chans {
		cr := &switchboardv1.ChannelRequest{Channel: ch}
		if p := want[ch].since(); p != nil && p.Epoch != "" {
			cr.Since = &switchboardv1.Position{Epoch: p.Epoch, Offset: p.Offset}
			since[ch] = *p
		}
		m.Channels = append(m.Channels, cr)
	}
	return m, since
}

// request opens one call and reads up to its first event, which must come
// within OpenTimeout.
func (g *grpcConn) request(ctx context.Context, want map[string]*Subscription) error {
	c := g.c
	rctx, cancel := g.begin(ctx)
	tok, err := c.token(rctx)
	if err != nil {
		cancel()
		return err
	}
	m, since := subscribeRequest(want)
	late := time.AfterFunc(c.opts.OpenTimeout, cancel)
	fail := func(err error) error {
		late.Stop()
		cancel()
		g.close()
		return err
	}
	st, err := c.grpc.Subscribe(rctx, grpcRequest(c, m, tok))
	ok := false
	if err == nil {
		g.st = st
		ok = st.Receive()
	}
	if !late.Stop() {
		// A call that never answers may sit on a dead connection.
		c.grpcHTTP.CloseIdleConnections()
		return fail(fmt.Errorf("no first event within %s", c.opts.OpenTimeout))
	}
	if err != nil {
		return fail(c.grpcError(err, tok))
	}
	if !ok {
		if err := st.Err(); err != nil {
			return fail(c.grpcError(err, tok))
		}
		return fail(errors.New("grpc stream ended before its first event"))
	}
	switch ev := st.Msg().GetEvent().(type) {
	case *switchboardv1.SubscribeResponse_Connected:
		if p := ev.Connected.GetPingInterval(); p > 0 {
			c.pingInterval.Store(int64(time.Duration(p) * time.Second))
		}
	case *switchboardv1.SubscribeResponse_Disconnect:
		return fail(disconnectOf(ev.Disconnect))
	default:
		return fail(fmt.Errorf("%w: first event %T, not Connected", errNotStream, ev))
	}
	g.chans, g.since, g.tok = want, since, tok
	silence := time.Duration(c.pingInterval.Load()) + c.opts.PingGrace
	g.silent.Store(false)
	g.idle = time.AfterFunc(silence, func() {
		g.silent.Store(true)
		cancel()
	})
	return nil
}

// probe asks for one channel alone, to see whether the node refuses it.
func (g *grpcConn) probe(ctx context.Context, ch string) error {
	c := g.c
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	m := &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: ch}}}
	st, err := c.grpc.Subscribe(ctx, grpcRequest(c, m, tok))
	if err != nil {
		return c.grpcError(err, tok)
	}
	// An accepted call is ended at once: only a refusal says anything.
	st.Receive()
	err = st.Err()
	cancel()
	st.Close()
	return c.grpcError(err, tok)
}

// read handles events until the call ends, and says why it ended.
func (g *grpcConn) read() error {
	var discon *protocol.Disconnect
	for g.st.Receive() {
		g.idle.Reset(time.Duration(g.c.pingInterval.Load()) + g.c.opts.PingGrace)
		switch ev := g.st.Msg().GetEvent().(type) {
		case *switchboardv1.SubscribeResponse_Subscribed:
			g.subscribed(ev.Subscribed)
		case *switchboardv1.SubscribeResponse_Publication:
			p := publicationOf(ev.Publication)
			if sub := g.chans[p.Channel]; sub != nil && g.confirmed[sub] {
				sub.deliver(p)
			}
		case *switchboardv1.SubscribeResponse_Gap:
			if sub := g.chans[ev.Gap.GetChannel()]; sub != nil && g.confirmed[sub] {
				sub.epochChanged(ev.Gap.GetEpoch())
			}
		case *switchboardv1.SubscribeResponse_Join:
			g.presence(ev.Join.GetChannel(), true, ev.Join.GetClient())
		case *switchboardv1.SubscribeResponse_Leave:
			g.presence(ev.Leave.GetChannel(), false, ev.Leave.GetClient())
		case *switchboardv1.SubscribeResponse_Unsubscribed:
			// The node ended one subscription: it ends here too, and the
			// kick that follows reopens the call for the others.
			if sub := g.chans[ev.Unsubscribed.GetChannel()]; sub != nil {
				e := ev.Unsubscribed.GetError()
				g.c.refuse(sub, protocol.Error{Code: e.GetCode(), Message: e.GetMessage()})
			}
		case *switchboardv1.SubscribeResponse_Disconnect:
			d := disconnectOf(ev.Disconnect)
			discon = &d
		case *switchboardv1.SubscribeResponse_Ping, *switchboardv1.SubscribeResponse_Connected:
			// Proof of life, which the timer reset above has taken.
		}
	}
	err := g.st.Err()
	switch {
	case discon != nil:
		// The status after a Disconnect says the same, less exactly.
		return *discon
	case g.silent.Load():
		return fmt.Errorf("%w for %s", errSilent, time.Duration(g.c.pingInterval.Load())+g.c.opts.PingGrace)
	case err == nil:
		return errors.New("grpc stream: ended by the node")
	}
	return fmt.Errorf("grpc stream: %w", g.c.grpcError(err, g.tok))
}

// subscribed confirms one channel of the call. It starts from the position
// the call gave when the node recovered it, else from the latest.
func (g *grpcConn) subscribed(s *switchboardv1.Subscribed) {
	sub := g.chans[s.GetChannel()]
	if sub == nil {
		return
	}
	latest := stream.Position{Epoch: s.GetEpoch(), Offset: s.GetOffset()}
	start := latest
	if p, ok := g.since[s.GetChannel()]; ok && s.GetRecovered() {
		start = p
	}
	sub.confirm(s.GetRecovered(), latest, start, !g.confirmed[sub])
	g.confirmed[sub] = true
}

func (g *grpcConn) presence(ch string, join bool, ci *switchboardv1.ClientInfo) {
	if sub := g.chans[ch]; sub != nil {
		sub.presence(join, clientInfoOf(ci))
	}
}

// grpcRequest wraps m with the client's headers as metadata and the token
// as "authorization: Bearer".
func grpcRequest[T any](c *Client, m *T, tok string) *connect.Request[T] {
	r := connect.NewRequest(m)
	for k, vs := range c.opts.Header {
		r.Header()[k] = append([]string(nil), vs...)
	}
	if tok != "" {
		r.Header().Set("Authorization", "Bearer "+tok)
	}
	return r
}

// grpcError reads a call's failure: the node's coded error (a
// protocol.Error, or a protocol.Disconnect for a close code) when its
// status details hold one, else err as it is, which says something other
// than a node answered. A refused token is recorded as expired.
func (c *Client) grpcError(err error, tok string) error {
	if err == nil {
		return nil
	}
	e, ok := grpcerr.FromError(err)
	switch {
	case !ok:
		return err
	case e.Code >= 3000:
		return protocol.Disconnect{Code: e.Code, Reason: e.Message, Reconnect: connect.CodeOf(err) == connect.CodeUnavailable}
	case e.Code == 109:
		_ = c.expired(tok)
	}
	return e
}

// viaGRPC reports whether publishes, history and presence go over the
// client service between connections: when gRPC is the only transport
// besides WebSocket, the node may not be reachable over plain HTTP.
func (c *Client) viaGRPC() bool {
	return !slices.ContainsFunc(c.opts.Transports, func(t Transport) bool {
		return t == SSE || t == LongPoll || t == ShortPoll
	})
}

func (c *Client) publishGRPC(ctx context.Context, channel string, data json.RawMessage, key string) (stream.Position, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return stream.Position{}, err
	}
	resp, err := c.grpc.Publish(ctx, grpcRequest(c, &switchboardv1.PublishRequest{Channel: channel, Data: string(data), Key: key}, tok))
	if err != nil {
		return stream.Position{}, c.grpcError(err, tok)
	}
	r := resp.Msg.GetResult()
	return stream.Position{Epoch: r.GetEpoch(), Offset: r.GetOffset()}, nil
}

func (c *Client) historyGRPC(ctx context.Context, channel string, opts HistoryOptions) (History, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return History{}, err
	}
	q := &switchboardv1.HistoryQuery{Reverse: opts.Reverse}
	if opts.Since != nil {
		q.Since = &switchboardv1.Position{Epoch: opts.Since.Epoch, Offset: opts.Since.Offset}
	}
	// As over HTTP, limit 0 asks for the position only; here 0 is the
	// default.
	if opts.Limit != 0 {
		if opts.Limit < 0 {
			return History{}, fmt.Errorf("%w: limit %d", stream.ErrBadRequest, opts.Limit)
		}
		l := uint32(min(opts.Limit, math.MaxUint32))
		q.Limit = &l
	}
	resp, err := c.grpc.History(ctx, grpcRequest(c, &switchboardv1.HistoryRequest{Channel: channel, Query: q}, tok))
	if err != nil {
		return History{}, c.grpcError(err, tok)
	}
	page := resp.Msg.GetPage()
	h := History{Latest: stream.Position{Epoch: page.GetEpoch(), Offset: page.GetOffset()}}
	for _, p := range page.GetPublications() {
		h.Publications = append(h.Publications, publicationOf(p))
	}
	return h, nil
}

func (c *Client) presenceGRPC(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.grpc.Presence(ctx, grpcRequest(c, &switchboardv1.PresenceRequest{Channel: channel}, tok))
	if err != nil {
		return nil, c.grpcError(err, tok)
	}
	list := make([]stream.ClientInfo, 0, len(resp.Msg.GetClients()))
	for _, ci := range resp.Msg.GetClients() {
		list = append(list, clientInfoOf(ci))
	}
	return list, nil
}

func publicationOf(p *switchboardv1.Publication) *stream.Publication {
	pub := &stream.Publication{
		Channel: p.GetChannel(), Epoch: p.GetEpoch(), Offset: p.GetOffset(),
		Data: json.RawMessage(p.GetData()), Time: p.GetTime(), Key: p.GetKey(),
	}
	if p.GetInfo() != nil {
		ci := clientInfoOf(p.GetInfo())
		pub.Info = &ci
	}
	return pub
}

func clientInfoOf(ci *switchboardv1.ClientInfo) stream.ClientInfo {
	out := stream.ClientInfo{Client: ci.GetClient(), User: ci.GetUser()}
	if ci.GetInfo() != "" {
		out.Info = json.RawMessage(ci.GetInfo())
	}
	return out
}

func disconnectOf(d *switchboardv1.Disconnect) protocol.Disconnect {
	return protocol.Disconnect{Code: d.GetCode(), Reason: d.GetReason(), Reconnect: d.GetReconnect()}
}

package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// Join says a client joined the subscription's channel: it subscribed over
// WebSocket, SSE or gRPC, or polled it for the first time. Join and Leave come
// only on channels whose namespace has presence and join_leave on, and only
// over WebSocket, SSE and gRPC (polls do not carry them: call
// Client.Presence).
// They are not replayed: a reconnection misses those in between.
type Join struct {
	Channel string
	Client  stream.ClientInfo
}

// Leave says a client left the subscription's channel: it unsubscribed,
// disconnected, or its entry expired (its node died, or it stopped
// polling).
type Leave struct {
	Channel string
	Client  stream.ClientInfo
}

func (Join) isEvent()  {}
func (Leave) isEvent() {}

// presence queues a join or leave of the subscription's channel.
func (s *Subscription) presence(join bool, ci stream.ClientInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if join {
		s.push(Join{Channel: s.channel, Client: ci})
	} else {
		s.push(Leave{Channel: s.channel, Client: ci})
	}
}

// presenceFrame routes a join or leave push to its subscription, if the
// client has one for the channel.
func (c *Client) presenceFrame(f protocol.Frame) {
	ci := stream.ClientInfo{Client: f.Client, User: f.User}
	if f.Info != nil {
		ci = *f.Info
	}
	c.mu.Lock()
	sub := c.subs[f.Channel]
	c.mu.Unlock()
	if sub != nil {
		sub.presence(f.Type == protocol.TypeJoin, ci)
	}
}

// Presence lists the clients in a channel whose namespace has presence on:
// over the WebSocket when connected over one, with the client service's
// Presence call over gRPC, else from GET /connection/presence. The namespace must allow the client to read
// presence; a namespace without presence fails with code 108
// (stream.ErrFeatureOff). It retries until ctx ends while the node cannot
// answer, like Publish.
func (c *Client) Presence(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	if err := stream.ValidateChannel(channel); err != nil {
		return nil, fmt.Errorf("presence %q: %w", channel, err)
	}
	bo := newBackoff(c.opts.MinBackoff, c.opts.MaxBackoff)
	for {
		list, err := c.presenceOnce(ctx, channel)
		switch {
		case err == nil:
			return list, nil
		case ctx.Err() != nil, !retryable(err):
			return nil, fmt.Errorf("presence %q: %w", channel, err)
		}
		if !sleep(ctx, bo.next()) {
			return nil, fmt.Errorf("presence %q: %w (last attempt: %v)", channel, ctx.Err(), err)
		}
	}
}

func (c *Client) presenceOnce(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	cn, err := c.route(ctx, true)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	if w, ok := cn.(*wsConn); ok {
		f, err := w.call(actx, protocol.Command{Type: protocol.TypePresence, Channel: channel})
		if err != nil {
			return nil, err
		}
		return f.Clients, nil
	}
	if _, g := cn.(*grpcConn); g || c.viaGRPC() {
		return c.presenceGRPC(actx, channel)
	}
	return c.presenceHTTP(actx, channel)
}

// presenceHTTP asks GET /connection/presence?channel=c →
// {"channel":"c","clients":[...]}.
func (c *Client) presenceHTTP(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	resp, err := c.get(ctx, c.eps.Presence+"?"+url.Values{"channel": {channel}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body protocol.PresenceReply
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("presence answer: %w", err)
	}
	return body.Clients, nil
}

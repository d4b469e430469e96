package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// PublishOptions configure one Publish.
type PublishOptions struct {
	// Key is the publication's idempotency key: the node delivers a
	// publication once per key and channel within its dedupe window (5
	// minutes by default), and answers a repeat with the first one's
	// position. Default: a random key drawn once per Publish call, so the
	// retries of one call are safe. Give a key of your own to make retries
	// across calls (or processes) safe too.
	Key string
}

// Publish publishes data to channel and returns the position it landed at.
// data is encoded with encoding/json; a json.RawMessage is sent as it is.
//
// Over a WebSocket it sends the publish command; over gRPC (and between
// connections when no SSE or polling transport is configured) the client
// service's Publish call; otherwise (connected over SSE or polling, or
// between connections) it posts to the publish endpoint. Attempts that fail for a
// reason that may pass (the connection dropped, an attempt took longer than
// RequestTimeout, the node is overloaded) are retried with backoff and the
// same key until ctx ends, so a publish is never doubled. Before Run starts,
// Publish waits for it. The channel's namespace must allow clients to
// publish.
func (c *Client) Publish(ctx context.Context, channel string, data any, opts PublishOptions) (stream.Position, error) {
	if err := stream.ValidateChannel(channel); err != nil {
		return stream.Position{}, fmt.Errorf("publish %q: %w", channel, err)
	}
	raw, err := encodeData(data)
	if err != nil {
		return stream.Position{}, fmt.Errorf("publish %q: %w", channel, err)
	}
	key := opts.Key
	if key == "" {
		key = newKey()
	}
	bo := newBackoff(c.opts.MinBackoff, c.opts.MaxBackoff)
	for {
		pos, err := c.publishOnce(ctx, channel, raw, key)
		switch {
		case err == nil:
			return pos, nil
		case ctx.Err() != nil:
			return pos, fmt.Errorf("publish %q: %w", channel, err)
		case !retryable(err):
			return pos, fmt.Errorf("publish %q: %w", channel, err)
		}
		c.log.Debug("publish failed; retrying", "channel", channel, "err", err)
		if !sleep(ctx, bo.next()) {
			return pos, fmt.Errorf("publish %q: %w (last attempt: %v)", channel, ctx.Err(), err)
		}
	}
}

func (c *Client) publishOnce(ctx context.Context, channel string, data json.RawMessage, key string) (stream.Position, error) {
	cn, err := c.route(ctx, true)
	if err != nil {
		return stream.Position{}, err
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	switch w := cn.(type) {
	case *wsConn:
		f, err := w.call(actx, protocol.Command{Type: protocol.TypePublish, Channel: channel, Data: data, Key: key})
		return stream.Position{Epoch: f.Epoch, Offset: f.Offset}, err
	case *grpcConn:
		return c.publishGRPC(actx, channel, data, key)
	}
	if c.viaGRPC() {
		return c.publishGRPC(actx, channel, data, key)
	}
	return c.publishHTTP(actx, channel, data, key)
}

// publishHTTP posts to the publish endpoint:
//
//	{"channel":"chat:lobby","data":{...},"key":"..."} → {"epoch":"x1","offset":45}
func (c *Client) publishHTTP(ctx context.Context, channel string, data json.RawMessage, key string) (stream.Position, error) {
	body, err := json.Marshal(protocol.PublishRequest{Channel: channel, Data: data, Key: key})
	if err != nil {
		return stream.Position{}, err
	}
	req, tok, err := c.newRequest(ctx, http.MethodPost, c.eps.Publish, bytes.NewReader(body))
	if err != nil {
		return stream.Position{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return stream.Position{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return stream.Position{}, c.answerError(resp, tok)
	}
	var reply protocol.PublishReply
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return stream.Position{}, fmt.Errorf("publish answer: %w", err)
	}
	return stream.Position{Epoch: reply.Epoch, Offset: reply.Offset}, nil
}

// route waits for a way to send: the WebSocket when connected over one,
// else nil for HTTP (when http allows it and a transport other than
// WebSocket is configured, so the node is known to serve HTTP clients).
func (c *Client) route(ctx context.Context, http bool) (conn, error) {
	http = http && slices.ContainsFunc(c.opts.Transports, func(t Transport) bool { return t != WebSocket })
	var cn conn
	err := c.await(ctx, func() bool {
		cn = c.conn
		_, ws := cn.(*wsConn)
		return ws || (c.running && http) || cn != nil
	})
	return cn, err
}

// HistoryOptions select publications from a channel's history.
type HistoryOptions struct {
	// Since selects the publications after this position. Nil: from the
	// oldest kept (or, with Reverse, back from the newest).
	Since *stream.Position
	// Limit caps how many are returned. Default: the node's (100); at most
	// 1000.
	Limit int
	// Reverse returns the newest first.
	Reverse bool
}

// History is a page of a channel's history.
type History struct {
	Publications []*stream.Publication
	// Latest is the channel's current epoch and newest offset.
	Latest stream.Position
}

// History reads a channel's history: over the WebSocket when connected over
// one, with the client service's History call over gRPC, else from
// GET /connection/history, so it works on every transport.
// Between connections it waits for one (or ctx). The channel's namespace
// must allow the client to read history. It retries until ctx ends while
// the node cannot answer, like Publish.
func (c *Client) History(ctx context.Context, channel string, opts HistoryOptions) (History, error) {
	if err := stream.ValidateChannel(channel); err != nil {
		return History{}, fmt.Errorf("history %q: %w", channel, err)
	}
	bo := newBackoff(c.opts.MinBackoff, c.opts.MaxBackoff)
	for {
		h, err := c.historyOnce(ctx, channel, opts)
		switch {
		case err == nil:
			return h, nil
		case ctx.Err() != nil, !retryable(err):
			return h, fmt.Errorf("history %q: %w", channel, err)
		}
		if !sleep(ctx, bo.next()) {
			return h, fmt.Errorf("history %q: %w (last attempt: %v)", channel, ctx.Err(), err)
		}
	}
}

func (c *Client) historyOnce(ctx context.Context, channel string, opts HistoryOptions) (History, error) {
	cn, err := c.route(ctx, true)
	if err != nil {
		return History{}, err
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	w, ok := cn.(*wsConn)
	if _, g := cn.(*grpcConn); g || (!ok && c.viaGRPC()) {
		return c.historyGRPC(actx, channel, opts)
	}
	if !ok {
		return c.historyHTTP(actx, channel, opts)
	}
	f, err := w.call(actx, protocol.Command{
		Type: protocol.TypeHistory, Channel: channel,
		Since: opts.Since, Limit: opts.Limit, Reverse: opts.Reverse,
	})
	if err != nil {
		return History{}, err
	}
	return History{Publications: f.Publications, Latest: stream.Position{Epoch: f.Epoch, Offset: f.Offset}}, nil
}

// historyHTTP asks GET /connection/history?channel=c&since_epoch=&since_offset=&limit=&reverse=
// → {"channel","epoch","offset","publications"}: the fields of the
// WebSocket reply, so it decodes as one.
func (c *Client) historyHTTP(ctx context.Context, channel string, opts HistoryOptions) (History, error) {
	q := url.Values{"channel": {channel}}
	if opts.Since != nil {
		q.Set("since_epoch", opts.Since.Epoch)
		q.Set("since_offset", strconv.FormatUint(opts.Since.Offset, 10))
	}
	// Over HTTP limit=0 asks for the position only; here 0 is the default.
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Reverse {
		q.Set("reverse", "true")
	}
	resp, err := c.get(ctx, c.eps.History+"?"+q.Encode())
	if err != nil {
		return History{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return History{}, err
	}
	f, err := protocol.DecodeFrame(body)
	if err != nil {
		return History{}, fmt.Errorf("history answer: %w", err)
	}
	return History{Publications: f.Publications, Latest: stream.Position{Epoch: f.Epoch, Offset: f.Offset}}, nil
}

// encodeData turns what Publish was given into one JSON value.
func encodeData(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: data is not one JSON value", stream.ErrBadRequest)
		}
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding data: %v", stream.ErrBadRequest, err)
	}
	return b, nil
}

// newKey draws an idempotency key.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

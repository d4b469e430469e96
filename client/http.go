package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// What the HTTP transports share: requests carrying the token and the
// subscriptions' positions, coded errors, finding the channel a node
// refused, and the cancellation a change of subscriptions causes.

// newRequest builds a request with the client's headers and token. It
// returns the token used, so that an answer saying it expired renews that
// one and not a newer one.
func (c *Client) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, string, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, "", err
	}
	for k, vs := range c.opts.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, tok, nil
}

// streamURL is an SSE or poll URL for the channels of subs, with a cursor
// holding every position known: the cursor format is the one every
// transport shares, so positions learnt over a WebSocket resume here.
func streamURL(base string, subs map[string]*Subscription, extra url.Values) string {
	q := url.Values{}
	chans := make([]string, 0, len(subs))
	for ch := range subs {
		chans = append(chans, ch)
	}
	slices.Sort(chans)
	q["channel"] = chans
	var cur stream.Cursor
	for _, ch := range chans {
		if p := subs[ch].since(); p != nil {
			cur.Set(ch, *p)
		}
	}
	if cur.Len() > 0 {
		q.Set("cursor", cur.String())
	}
	for k, vs := range extra {
		q[k] = vs
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + q.Encode()
}

// get sends a GET to target and returns the response when the node answered
// 200, for the caller to read and close; any other answer is read as
// answerError reads it.
func (c *Client) get(ctx context.Context, target string) (*http.Response, error) {
	req, tok, err := c.newRequest(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, c.answerError(resp, tok)
	}
	return resp, nil
}

// answerError reads a refusal: the node's coded error (a protocol.Error)
// when the body holds one, else an httpStatusError, which says something
// other than a node answered. A refused token is recorded as expired.
func (c *Client) answerError(resp *http.Response, tok string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if f, err := protocol.DecodeFrame(body); err == nil && f.Error != nil && f.Error.Code != 0 {
		if f.Error.Code == 109 {
			_ = c.expired(tok)
		}
		return *f.Error
	}
	return &httpStatusError{status: resp.StatusCode, body: strings.TrimSpace(string(clip(body, 200)))}
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// reach checks that an HTTP transport's endpoint is served by a node, for a
// connection that has no channel to open a stream or poll for yet. A
// request naming no channel is one a node refuses with its coded "bad
// request" (107): that answer, and only a node's, shows the way is open.
func (c *Client) reach(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	req, tok, err := c.newRequest(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	err = c.answerError(resp, tok)
	if e, ok := errors.AsType[protocol.Error](err); ok && e.Code == 107 {
		return nil
	}
	return err
}

// refuseChannels ends the subscriptions the node refuses after it refused a
// request for all of want with err. A request names every channel, so one
// forbidden channel refuses them all; probe asks for one channel alone to
// tell which. It reports whether any subscription was ended.
func (c *Client) refuseChannels(ctx context.Context, want map[string]*Subscription, err error, probe func(context.Context, string) error) bool {
	if len(want) == 1 {
		for _, s := range want {
			c.refuse(s, err)
		}
		return true
	}
	found := false
	for ch, s := range want {
		if perr := probe(ctx, ch); perr != nil && channelRefused(perr) {
			c.refuse(s, perr)
			found = true
		}
	}
	return found
}

// sameSet reports whether two sets of subscriptions are the same: the same
// channels, by the same Subscription (one unsubscribed and subscribed again
// is new).
func sameSet(a, b map[string]*Subscription) bool {
	if len(a) != len(b) {
		return false
	}
	for ch, s := range a {
		if b[ch] != s {
			return false
		}
	}
	return true
}

// restarter is the part of an HTTP connection that lets a change of
// subscriptions cut the request in flight: the stream or poll is then made
// again for the new channels, from the positions reached.
type restarter struct {
	kickc chan struct{}

	mu      sync.Mutex
	cancel  context.CancelFunc
	changed bool
}

func newRestarter() restarter { return restarter{kickc: make(chan struct{}, 1)} }

func (r *restarter) kick() {
	r.mu.Lock()
	r.changed = true
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

// begin derives the context of a new request. A kick that came since the
// last takeChanged cancels it at once.
func (r *restarter) begin(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.cancel = cancel
	if r.changed {
		cancel()
	}
	r.mu.Unlock()
	return rctx, cancel
}

// abort cancels the request in flight.
func (r *restarter) abort() {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
}

// takeChanged reports whether subscriptions changed since the last call.
func (r *restarter) takeChanged() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.changed
	r.changed = false
	return ch
}

// waitKick waits for a change of subscriptions, reporting false when ctx
// ends first.
func (r *restarter) waitKick(ctx context.Context) bool {
	select {
	case <-r.kickc:
		return true
	case <-ctx.Done():
		return false
	}
}

var errNotStream = errors.New("not an event stream")

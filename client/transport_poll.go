package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// pollConn polls, long or short. The node keeps nothing between polls: each
// one carries a cursor built from the subscriptions' positions, so a poll
// cut or cancelled loses nothing, and a change of subscriptions only means
// the next poll names other channels. Only the goroutine that opens and runs
// the connection touches its fields below the restarter.
type pollConn struct {
	c    *Client
	kind Transport // LongPoll or ShortPoll
	restarter

	chans map[string]*Subscription // the channels of the last poll answered
	held  *pollAnswer              // answered, not yet handled
	// confirmed holds the subscriptions this connection has confirmed.
	confirmed map[*Subscription]bool
}

var _ conn = (*pollConn)(nil)

// pollAnswer is one poll's reply, with the channels it was for.
type pollAnswer struct {
	Publications []json.RawMessage `json:"publications"`
	Cursor       string            `json:"cursor"`
	Gaps         []string          `json:"gaps"`
	Client       string            `json:"client"`

	chans map[string]*Subscription
}

// openPoll makes a first poll that the node does not hold (timeout 0): its
// answer is the first frame, and it confirms the subscriptions at once.
func (c *Client) openPoll(ctx context.Context, kind Transport) (conn, error) {
	p := &pollConn{c: c, kind: kind, restarter: newRestarter(), confirmed: make(map[*Subscription]bool)}
	want := c.subscriptions()
	if len(want) == 0 {
		if err := c.reach(ctx, c.eps.Poll); err != nil {
			return nil, err
		}
		return p, nil
	}
	a, err := p.poll(ctx, want, 0)
	if err != nil {
		return nil, err
	}
	p.held = a
	return p, nil
}

func (p *pollConn) transport() Transport { return p.kind }

func (p *pollConn) close() { p.abort() }

func (p *pollConn) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, p.abort)
	defer stop()
	for {
		if p.held != nil {
			p.handle(p.held)
			p.chans = p.held.chans
			p.held = nil
		}
		p.takeChanged()
		want := p.c.subscriptions()
		if len(want) == 0 {
			p.chans = nil
			if !p.waitKick(ctx) {
				return ctx.Err()
			}
			continue
		}
		hold := p.c.opts.LongPollTimeout
		if changed := !sameSet(want, p.chans); changed {
			hold = 0 // confirm new channels now, not at the next publication
		} else if p.kind == ShortPoll {
			hold = 0
			if !p.pause(ctx) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				continue
			}
		}
		a, err := p.poll(ctx, want, hold)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if p.takeChanged() {
				continue
			}
			return err
		}
		p.held = a
	}
}

// pause waits PollInterval between short polls. It reports false when a
// change of subscriptions or the end of ctx cut it short.
func (p *pollConn) pause(ctx context.Context) bool {
	t := time.NewTimer(p.c.opts.PollInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.kickc:
		return false
	case <-ctx.Done():
		return false
	}
}

// poll makes one poll for want, ending the subscriptions the node refuses.
// The node answers within hold; OpenTimeout more is allowed for the network.
func (p *pollConn) poll(ctx context.Context, want map[string]*Subscription, hold time.Duration) (*pollAnswer, error) {
	for {
		a, err := p.request(ctx, want, hold)
		if err == nil || !channelRefused(err) {
			return a, err
		}
		if !p.c.refuseChannels(ctx, want, err, p.probe) {
			return nil, err
		}
		if want = p.c.subscriptions(); len(want) == 0 {
			return nil, nil // nothing left to poll for
		}
	}
}

func (p *pollConn) request(ctx context.Context, want map[string]*Subscription, hold time.Duration) (*pollAnswer, error) {
	c := p.c
	rctx, cancel := p.begin(ctx)
	defer cancel()
	rctx, cancelT := context.WithTimeout(rctx, hold+c.opts.OpenTimeout)
	defer cancelT()
	extra := url.Values{"timeout": {hold.String()}}
	if id := c.pollClient.Load(); id != nil {
		extra.Set("client", *id)
	}
	resp, err := c.get(rctx, streamURL(c.eps.Poll, want, extra))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	a := &pollAnswer{chans: want}
	if err := json.NewDecoder(resp.Body).Decode(a); err != nil {
		return nil, fmt.Errorf("poll answer: %w", err)
	}
	if a.Cursor == "" {
		return nil, fmt.Errorf("poll answer without a cursor")
	}
	if a.Client != "" {
		c.pollClient.Store(&a.Client)
	}
	return a, nil
}

// probe polls one channel alone, to see whether the node refuses it.
func (p *pollConn) probe(ctx context.Context, ch string) error {
	c := p.c
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	resp, err := c.get(ctx, streamURL(c.eps.Poll, map[string]*Subscription{ch: {channel: ch}}, url.Values{"timeout": {"0"}}))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// handle confirms what the answer is the first to confirm, reports gaps,
// delivers the publications and moves every position to the cursor's.
func (p *pollConn) handle(a *pollAnswer) {
	cur, err := stream.ParseCursor(a.Cursor)
	if err != nil {
		p.c.log.Warn("unreadable cursor in a poll answer", "err", err)
	}
	pubs := make([]*stream.Publication, 0, len(a.Publications))
	first := make(map[string]*stream.Publication)
	for _, raw := range a.Publications {
		f, err := protocol.DecodeFrame(raw)
		if err != nil {
			p.c.log.Warn("unreadable publication from the node", "err", err)
			continue
		}
		pub := f.Publication()
		pubs = append(pubs, pub)
		if first[pub.Channel] == nil {
			first[pub.Channel] = pub
		}
	}
	gaps := make(map[string]bool, len(a.Gaps))
	for _, ch := range a.Gaps {
		gaps[ch] = true
	}
	for ch, sub := range a.chans {
		isNew := !p.confirmed[sub]
		if !isNew && !gaps[ch] {
			continue
		}
		end, ok := cur.Get(ch)
		if !ok {
			continue // the node's session ended before this channel: next poll
		}
		// The answer says where a channel ends up; it starts before its
		// first publication in the answer.
		start := end
		if fp := first[ch]; fp != nil {
			start = stream.Position{Epoch: fp.Epoch, Offset: fp.Offset - 1}
		}
		sub.confirm(!gaps[ch], end, start, isNew)
		p.confirmed[sub] = true
	}
	for _, pub := range pubs {
		if sub := a.chans[pub.Channel]; sub != nil && p.confirmed[sub] {
			sub.deliver(pub)
		}
	}
	for ch, sub := range a.chans {
		if pos, ok := cur.Get(ch); ok && p.confirmed[sub] {
			sub.advance(pos)
		}
	}
}

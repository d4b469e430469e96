package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/switchboardhq/switchboard/stream"
)

// SubscribeOptions configure one subscription.
type SubscribeOptions struct {
	// Since is the position to resume from, such as one saved by an
	// earlier run: the publications after it are replayed first. Nil
	// starts live, with the publications made after the node takes the
	// subscription.
	Since *stream.Position
}

// Subscription is the client's interest in one channel. It keeps the
// channel's position (the last publication it queued) and resumes from it on
// every reconnection, whatever the transport. Its events wait in a queue of
// their own until Next takes them, so a slow reader never holds up the
// connection or other subscriptions; the queue is not bounded, so read it.
//
// Its methods are safe for concurrent use; events keep their order when one
// goroutine calls Next.
type Subscription struct {
	c       *Client
	channel string

	mu     sync.Mutex
	pos    stream.Position
	hasPos bool
	queue  []Event
	ended  bool // Unsubscribed is queued: nothing follows it
	done   bool // Next has returned Unsubscribed
	wake   chan struct{}
}

// Subscribe starts a subscription to channel. It returns at once: the
// subscription is sent when the client is connected, and Next reports what
// happens. It fails for an invalid channel name, a channel already
// subscribed to by this client, and once Run has returned.
func (c *Client) Subscribe(channel string, opts SubscribeOptions) (*Subscription, error) {
	if err := stream.ValidateChannel(channel); err != nil {
		return nil, fmt.Errorf("subscribe %q: %w", channel, err)
	}
	s := &Subscription{c: c, channel: channel, wake: make(chan struct{}, 1)}
	if opts.Since != nil {
		s.pos, s.hasPos = *opts.Since, true
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, fmt.Errorf("subscribe %q: %w", channel, ErrClosed)
	case c.subs[channel] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("subscribe %q: %w", channel, stream.ErrAlreadySubscribed)
	}
	c.subs[channel] = s
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.kick()
	}
	return s, nil
}

// Channel is the subscription's channel.
func (s *Subscription) Channel() string { return s.channel }

// Position returns the subscription's position: the last publication
// queued, or where the node started it. ok is false before either is known.
func (s *Subscription) Position() (pos stream.Position, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos, s.hasPos
}

// Next returns the next event, waiting for one until ctx ends. After the
// Unsubscribed event it returns ErrUnsubscribed.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if _, last := ev.(Unsubscribed); last {
				s.done = true
			}
			s.mu.Unlock()
			return ev, nil
		}
		done := s.done
		s.mu.Unlock()
		if done {
			return nil, ErrUnsubscribed
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Unsubscribe ends the subscription: the node is told when connected, and
// Unsubscribed{Err: nil} is queued. Calling it again does nothing.
func (s *Subscription) Unsubscribe() {
	if s.c.forget(s) {
		s.end(nil)
	}
}

// forget removes s from the client's subscriptions and tells the connection.
// It reports whether s was still there.
func (c *Client) forget(s *Subscription) bool {
	c.mu.Lock()
	if c.subs[s.channel] != s {
		c.mu.Unlock()
		return false
	}
	delete(c.subs, s.channel)
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.kick()
	}
	return true
}

// refuse ends a subscription the node will not take, reporting why.
func (c *Client) refuse(s *Subscription, err error) {
	if c.forget(s) {
		c.log.Info("subscription refused", "channel", s.channel, "err", err)
		s.end(err)
	}
}

// subscriptions returns the subscriptions the connection should have.
func (c *Client) subscriptions() map[string]*Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]*Subscription, len(c.subs))
	for ch, s := range c.subs {
		m[ch] = s
	}
	return m
}

// push queues ev; s.mu must be held.
func (s *Subscription) push(ev Event) {
	s.queue = append(s.queue, ev)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// since is the position to resume from, nil to start live.
func (s *Subscription) since() *stream.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasPos {
		return nil
	}
	p := s.pos
	return &p
}

// deliver queues a publication unless it is one already queued, comparing
// positions (epoch and offset). A publication that does not follow the
// position — from another epoch (the channel's history was lost and the
// node did not say so), or further on in the same one (something was
// missed) — is reported as a gap first.
func (s *Subscription) deliver(p *stream.Publication) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.hasPos && s.pos.Epoch != "" {
		if p.Epoch == s.pos.Epoch && p.Offset <= s.pos.Offset {
			return
		}
		if p.Epoch != s.pos.Epoch || p.Offset > s.pos.Offset+1 {
			s.push(Gap{Channel: s.channel, From: s.pos, To: stream.Position{Epoch: p.Epoch, Offset: p.Offset - 1}})
		}
	}
	s.pos, s.hasPos = p.Position(), true
	s.push(Publication{Publication: *p})
}

// epochChanged records the node's gap push: the channel's history was
// replaced, and what follows is the new epoch's from its start. It is
// reported as a Gap unless the position is in that epoch already.
func (s *Subscription) epochChanged(epoch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || (s.hasPos && s.pos.Epoch == epoch) {
		return
	}
	to := stream.Position{Epoch: epoch}
	s.push(Gap{Channel: s.channel, From: s.pos, To: to})
	s.pos, s.hasPos = to, true
}

// confirm records the node's answer to a subscribe. latest is the channel's
// latest position; start is where the node starts sending: the position sent
// when recovered, else the latest. first is false when the same connection
// confirms the subscription again (an SSE stream reopened for another
// channel): only a gap is news then.
func (s *Subscription) confirm(recovered bool, latest, start stream.Position, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	switch {
	case !recovered:
		from := s.pos
		s.pos, s.hasPos = start, true
		if first {
			s.push(Subscribed{Channel: s.channel, Recovered: false, Position: latest})
		}
		s.push(Gap{Channel: s.channel, From: from, To: start})
		return
	case !s.hasPos:
		s.pos, s.hasPos = start, true
	case start.Epoch != s.pos.Epoch:
		// Recovered from a position in another epoch cannot be; trust
		// the node's account of where it starts.
		s.pos = start
	}
	// A recovered start behind the position (a stream opened from an
	// older cursor) leaves the position alone: the replay up to it is
	// dropped as duplicates.
	if first {
		s.push(Subscribed{Channel: s.channel, Recovered: true, Position: latest})
	}
}

// advance moves the position to p when the node reports it further on with
// no publication in between (a poll cursor for a channel started live).
func (s *Subscription) advance(p stream.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasPos || (p.Epoch == s.pos.Epoch && p.Offset > s.pos.Offset) {
		s.pos, s.hasPos = p, true
	}
}

// fail queues an Error that does not end the subscription.
func (s *Subscription) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.push(Error{Channel: s.channel, Err: err})
	}
}

// end queues the last event; nothing is queued after it.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.push(Unsubscribed{Channel: s.channel, Err: err})
}

// Event is what Subscription.Next returns: one of Publication, Subscribed,
// Gap, Error, Unsubscribed, and Join and Leave on channels with presence
// events. Switch on its type.
type Event interface {
	isEvent()
}

// Publication is one message of the channel. Publications come in offset
// order, each once: within an epoch, no offset at or below one already
// returned is returned again, whatever reconnections and transport changes
// happened in between.
type Publication struct {
	stream.Publication
}

// Subscribed says the node has taken the subscription: after the first
// subscribe, and again after each reconnection. Position is the channel's
// latest position at that moment. Recovered is false when the publications
// since the subscription's previous position could not all be replayed; a
// Gap follows.
type Subscribed struct {
	Channel   string
	Recovered bool
	Position  stream.Position
}

// Gap says publications were missed and will not come: the subscription's
// position fell out of the channel's history (it was too old, or the epoch
// changed because the node lost its history). The application should reload
// its state; publications after To follow.
type Gap struct {
	Channel string
	// From is the position the subscription had.
	From stream.Position
	// To is where it resumes: the next publication is the one after it.
	To stream.Position
}

// Error reports a failure that does not end the subscription by itself: a
// subscribe refused for a reason that may pass (the node is overloaded or
// shutting down); the client tries again. A refusal that will not pass is
// followed by Unsubscribed. Error is an error too.
type Error struct {
	Channel string
	Err     error
}

func (e Error) Error() string { return fmt.Sprintf("subscription %q: %v", e.Channel, e.Err) }
func (e Error) Unwrap() error { return e.Err }

// Unsubscribed is the last event of a subscription. Err is nil after
// Unsubscribe, ErrClosed when Run returned, or the node's reason (such as
// stream.ErrPermissionDenied) when it refused or ended the subscription.
type Unsubscribed struct {
	Channel string
	Err     error
}

func (Publication) isEvent()  {}
func (Subscribed) isEvent()   {}
func (Gap) isEvent()          {}
func (Error) isEvent()        {}
func (Unsubscribed) isEvent() {}

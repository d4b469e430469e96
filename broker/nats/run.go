package nats

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/stream"
)

// Retries of a repair that failed (NATS unreachable) wait from minBackoff
// to maxBackoff, with jitter.
const (
	minBackoff = 25 * time.Millisecond
	maxBackoff = 2 * time.Second
)

var errRunning = errors.New("broker is already running")

// Run delivers publications of subscribed channels by calling deliver, one
// at a time and, per channel, in offset order, until ctx ends. It then
// returns nil: ending ctx is the normal way to stop it.
//
// Live publications arrive as the stream republishes them. Every one is
// checked against the last position delivered for its channel: a repeat is
// dropped, the next offset is delivered, and a gap or a new epoch is first
// filled from history. When the connection is lost, nats.go connects again
// (for as long as it takes) and subscribes again, and Run then repairs:
// for each channel it reads the history after the last publication it
// delivered and delivers what is missing. The same repair runs when a
// live message was dropped on the way (the node fell behind), and when Run
// starts, for what was published while no Run was delivering. Only what is
// no longer in history cannot be repaired; subscribers see the gap.
//
// Only one Run may be active at a time; a second concurrent call returns an
// error at once. Once Run has returned, deliver is not running and will not
// be called again.
func (b *Broker) Run(ctx context.Context, deliver func(*stream.Publication)) error {
	if deliver == nil {
		return errors.New("run: nil deliver func")
	}
	if !b.running.CompareAndSwap(false, true) {
		return fmt.Errorf("run: %w", errRunning)
	}
	b.mu.Lock()
	close(b.ready)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.ready = make(chan struct{})
		b.mu.Unlock()
		b.running.Store(false)
	}()

	l := &loop{b: b, deliver: deliver}
	b.requestRepair()
	failures := 0
	var retry <-chan time.Time
	for {
		if b.repairAll.Swap(false) {
			if err := l.repair(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				failures++
				log := b.log.Debug
				if failures == 1 {
					log = b.log.Warn
				}
				log("nats: cannot repair subscriptions from history yet; retrying", "attempt", failures, "err", err)
				b.repairAll.Store(true)
				retry = time.After(backoff(failures))
			} else {
				failures, retry = 0, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case m := <-b.msgs:
			if err := l.handle(ctx, m); err != nil {
				// The repair reads past this message too.
				b.log.Debug("nats: cannot fill a gap from history; repairing", "err", err)
				if retry == nil {
					b.requestRepair()
				}
			}
		case <-b.signal:
		case <-retry:
			retry = nil
		}
	}
}

// requestRepair makes the delivery loop read every subscribed channel's
// history after the position it delivered last.
func (b *Broker) requestRepair() {
	b.repairAll.Store(true)
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// loop is Run's delivery side. One goroutine — Run's — runs it, so it
// calls deliver one publication at a time, and it alone moves each
// subscription's position.
type loop struct {
	b       *Broker
	deliver func(*stream.Publication)
}

// handle delivers one live message, and before it whatever its channel
// missed.
func (l *loop) handle(ctx context.Context, m *natsgo.Msg) error {
	name, ok := l.b.channelOfLive(m.Subject)
	if !ok {
		return nil
	}
	e, err := readLive(m)
	if err != nil {
		l.b.log.Error("nats: dropped a publication this node cannot read", "channel", name, "err", err)
		return nil
	}
	if e.offset == 0 {
		return nil // an epoch's marker, not a publication
	}
	l.b.mu.RLock()
	s := l.b.subs[name]
	l.b.mu.RUnlock()
	if s == nil {
		return nil
	}
	switch {
	case e.epoch == s.pos.Epoch && e.offset <= s.pos.Offset:
		return nil // delivered already, by a repair or a catch-up
	case e.epoch == s.pos.Epoch && e.offset == s.pos.Offset+1:
	case s.pos.Epoch == "" && e.offset == 1:
		// The channel's first publication, on a channel that had no
		// position when it was subscribed.
	default:
		if err := l.catchUp(ctx, s, &e); err != nil {
			return err
		}
		if e.epoch == s.pos.Epoch && e.offset <= s.pos.Offset {
			return nil
		}
	}
	p, err := e.publication(s.name)
	if err != nil {
		l.b.log.Error("nats: dropped a publication this node cannot read", "channel", name, "err", err)
		return nil
	}
	l.send(s, p)
	return nil
}

// catchUp delivers, from history, what s missed before e: the offsets
// between its position and e's in the same epoch, or everything of e's
// epoch before e when the epoch changed.
func (l *loop) catchUp(ctx context.Context, s *subscription, e *entry) error {
	q := stream.HistoryQuery{Limit: clampLimit(e.offset - 1)}
	if e.epoch == s.pos.Epoch {
		since := s.pos
		q.Since = &since
		q.Limit = clampLimit(e.offset - s.pos.Offset - 1)
	}
	page, err := l.b.History(ctx, s.name, q)
	if err != nil {
		return err
	}
	if page.Latest.Epoch != e.epoch {
		return nil // the channel has moved on again; e goes as it is
	}
	l.sendAll(s, page.Publications, e.offset)
	return nil
}

func clampLimit(n uint64) int { return int(min(n, math.MaxInt32)) }

// repair delivers, for every subscription, what was published after its
// position and has not been delivered.
func (l *loop) repair(ctx context.Context) error {
	l.b.mu.RLock()
	subs := make([]*subscription, 0, len(l.b.subs))
	for _, s := range l.b.subs {
		subs = append(subs, s)
	}
	l.b.mu.RUnlock()
	for _, s := range subs {
		q := stream.HistoryQuery{Limit: -1}
		if s.pos.Epoch != "" {
			since := s.pos
			q.Since = &since
		}
		page, err := l.b.History(ctx, s.name, q)
		if err == nil && s.pos.Epoch != "" && page.Latest.Epoch != s.pos.Epoch {
			// NATS lost the channel: all of its new epoch is news.
			page, err = l.b.History(ctx, s.name, stream.HistoryQuery{Limit: -1})
		}
		if err != nil {
			if errors.Is(err, stream.ErrInternal) {
				l.b.log.Error("nats: cannot repair a channel from history", "channel", s.name, "err", err)
				continue
			}
			return err
		}
		l.sendAll(s, page.Publications, 0)
	}
	return nil
}

// sendAll delivers the publications of pubs that come after s's position
// and, unless before is 0, before that offset.
func (l *loop) sendAll(s *subscription, pubs []*stream.Publication, before uint64) {
	for _, p := range pubs {
		if before != 0 && p.Offset >= before {
			return
		}
		if p.Epoch == s.pos.Epoch && p.Offset <= s.pos.Offset {
			continue
		}
		l.send(s, p)
	}
}

// send delivers p if s is still subscribed, and moves s's position. The read
// lock is held while deliver runs, which is what lets Unsubscribe promise
// that no delivery of its channel runs once it has returned.
func (l *loop) send(s *subscription, p *stream.Publication) {
	l.b.mu.RLock()
	if l.b.subs[s.name] == s {
		l.deliver(p)
		s.pos = p.Position()
	}
	l.b.mu.RUnlock()
}

// backoff is how long to wait before attempt n+1: exponential, capped,
// with jitter in its upper half.
func backoff(n int) time.Duration {
	d := min(minBackoff<<min(n-1, 16), maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// listen hands every core NATS message on subject to handle, in order, until
// ctx ends. buf is how many messages may wait for handle before the
// client's slow-consumer limit applies.
func listen(ctx context.Context, nc *natsgo.Conn, subject string, buf int, handle func(*natsgo.Msg)) error {
	msgs := make(chan *natsgo.Msg, buf)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return classify(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			handle(m)
		}
	}
}

package redis

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/stream"
)

const (
	// repairBatch is how many channels' histories one pipeline reads when
	// a new connection repairs its subscriptions.
	repairBatch = 256
	// readTimeout bounds one history read made to repair; a Redis that
	// does not answer in that time is treated as lost.
	readTimeout = 10 * time.Second
)

// loop is Run's delivery side. One goroutine — Run's — runs it, so it
// calls deliver one publication at a time, and it alone moves each
// subscription's position. It checks every publication against the
// position of its channel: a repeat is dropped, the next offset is
// delivered, and anything else (a gap, a new epoch) is first filled from
// history. That one rule makes live delivery, reconnection repair and the
// race between reading a position and subscribing all come out in order,
// exactly once.
type loop struct {
	b       *Broker
	deliver func(*stream.Publication)
	// pending holds messages taken from the inbox and not yet handled,
	// oldest first: what was left when filling a gap failed, to be
	// handled after the next connection's repair.
	pending []inbound
}

// serve delivers what c receives, after repairing subs, until ctx ends
// (nil) or the connection has to be replaced (the reason). repaired
// reports whether the repair succeeded, which makes the connection a good
// one as far as Run's backoff is concerned.
func (l *loop) serve(ctx context.Context, c *pubsubConn, subs []*subscription) (repaired bool, reason error) {
	if err := l.repair(ctx, subs); err != nil {
		return false, fmt.Errorf("repair: %w", err)
	}
	for {
		if err := l.process(ctx); err != nil {
			return true, fmt.Errorf("filling a gap: %w", err)
		}
		select {
		case <-ctx.Done():
			return true, nil
		case err := <-c.lost:
			// The hooks are done once lost is closed; what they queued
			// until then is delivered before the next connection.
			for range c.lost {
			}
			if perr := l.process(ctx); perr != nil {
				return true, fmt.Errorf("%v; then filling a gap: %w", err, perr)
			}
			if err == nil {
				err = rueidis.ErrClosing
			}
			return true, err
		case <-l.b.inbox.signal:
		}
	}
}

// process handles everything queued. It stops at the first message whose
// gap could not be filled, keeping it and the rest pending.
func (l *loop) process(ctx context.Context) error {
	for {
		if len(l.pending) == 0 {
			l.pending = l.b.inbox.take(l.pending)
			if len(l.pending) == 0 {
				return nil
			}
		}
		for i := range l.pending {
			if err := l.handle(ctx, l.pending[i]); err != nil {
				l.pending = l.pending[i:]
				return err
			}
			l.pending[i] = inbound{} // let the payload go
		}
		l.pending = l.pending[:0]
	}
}

// handle delivers one live message, and before it whatever its channel
// missed.
func (l *loop) handle(ctx context.Context, in inbound) error {
	name, ok := l.b.channelOf(in.channel)
	if !ok {
		return nil
	}
	m, err := parseMessage(in.payload)
	if err != nil {
		// Another node speaks a format this one does not know: only a
		// rolling upgrade across a format change can do that.
		l.b.log.Error("redis pub/sub: dropped a publication this node cannot read", "channel", name, "err", err)
		return nil
	}
	l.b.mu.RLock()
	s := l.b.subs[name]
	l.b.mu.RUnlock()
	if s == nil {
		return nil
	}
	switch {
	case m.epoch == s.pos.Epoch && m.offset <= s.pos.Offset:
		return nil // delivered already, by a repair or before a reconnection
	case m.epoch == s.pos.Epoch && m.offset == s.pos.Offset+1:
	case s.pos.Epoch == "" && m.offset == 1:
		// The channel's first publication, on a channel that had no
		// position when it was subscribed.
	default:
		if err := l.catchUp(ctx, s, m); err != nil {
			return err
		}
		if m.epoch == s.pos.Epoch && m.offset <= s.pos.Offset {
			return nil
		}
	}
	epoch := s.pos.Epoch
	if m.epoch != epoch {
		epoch = strings.Clone(m.epoch)
	}
	p, err := m.publication(s.name, epoch)
	if err != nil {
		l.b.log.Error("redis pub/sub: dropped a publication this node cannot read",
			"channel", name, "offset", m.offset, "err", err)
		return nil
	}
	l.send(s, p)
	return nil
}

// catchUp delivers, from history, what s missed before m: the offsets
// between its position and m's in the same epoch, or everything of m's
// epoch before m when the epoch changed.
func (l *loop) catchUp(ctx context.Context, s *subscription, m message) error {
	q := stream.HistoryQuery{Limit: clampLimit(m.offset - 1)}
	if m.epoch == s.pos.Epoch {
		since := s.pos
		q.Since = &since
		q.Limit = clampLimit(m.offset - s.pos.Offset - 1)
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	page, err := l.b.History(rctx, s.name, q)
	if err != nil {
		if transient(err) {
			return err
		}
		// Redis answers, but not with this channel's history: waiting
		// would hold up every channel for nothing. What cannot be read
		// is skipped, which subscribers see as a gap.
		l.b.log.Error("redis pub/sub: cannot fill a gap from history", "channel", s.name, "err", err)
		return nil
	}
	if page.Latest.Epoch != m.epoch {
		return nil // the channel has moved on again; m goes as it is
	}
	l.sendAll(s, page.Publications, m.offset)
	return nil
}

func clampLimit(n uint64) int { return int(min(n, math.MaxInt32)) }

// repair delivers, for each subscription a new connection took over, what
// was published after its position while no connection was live. Reads go
// out in pipelined batches, so a node with many channels repairs in a few
// round trips.
func (l *loop) repair(ctx context.Context, subs []*subscription) error {
	execs := make([]rueidis.LuaExec, 0, min(len(subs), repairBatch))
	for len(subs) > 0 {
		batch := subs[:min(len(subs), repairBatch)]
		subs = subs[len(batch):]
		execs = execs[:0]
		for _, s := range batch {
			q := stream.HistoryQuery{Limit: -1}
			if s.pos.Epoch != "" {
				since := s.pos
				q.Since = &since
			}
			execs = append(execs, l.b.historyExec(s.name, q))
		}
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		results := luaHistory.ExecMulti(rctx, l.b.client, execs...)
		for i, r := range results {
			s := batch[i]
			page, err := l.repaired(rctx, s, r)
			if err != nil {
				if transient(err) {
					cancel()
					return err
				}
				// As in catchUp: skip what cannot be read. The channel's
				// next live publication tries again.
				l.b.log.Error("redis pub/sub: cannot repair a channel from history", "channel", s.name, "err", err)
				continue
			}
			l.sendAll(s, page.Publications, 0)
		}
		cancel()
	}
	return nil
}

// repaired reads the page answering s's repair from r, and when Redis lost
// the channel, reads its new epoch from the start.
func (l *loop) repaired(ctx context.Context, s *subscription, r rueidis.RedisResult) (stream.HistoryPage, error) {
	reply, err := r.ToArray()
	if err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", s.name, classify(err))
	}
	page, err := parsePage(s.name, reply)
	if err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", s.name, err)
	}
	if s.pos.Epoch != "" && page.Latest.Epoch != s.pos.Epoch {
		// All of the new epoch is news.
		return l.b.History(ctx, s.name, stream.HistoryQuery{Limit: -1})
	}
	return page, nil
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

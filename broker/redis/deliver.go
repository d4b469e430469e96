package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
	"github.com/switchboardhq/switchboard/stream"
)

// loop is Run's delivery side: it takes what the pub/sub connection queued
// in the inbox and hands it to the relay, which checks each publication
// against its channel's position, fills gaps from history and delivers
// (see [relay.Relay], which also says what each error means). One
// goroutine — Run's — runs it.
type loop struct {
	b     *Broker
	relay *relay.Relay
	// pending holds messages taken from the inbox and not yet handled,
	// oldest first: what was left when filling a gap failed, to be
	// handled after the next connection's repair.
	pending []inbound
}

// serve delivers what c receives, after repairing subs, until ctx ends
// (nil) or the connection has to be replaced (the reason). repaired
// reports whether the repair succeeded, which makes the connection a good
// one as far as Run's backoff is concerned.
func (l *loop) serve(ctx context.Context, c *pubsubConn, subs []*relay.Sub) (repaired bool, reason error) {
	if err := l.relay.Repair(ctx, subs); err != nil {
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
// gap could not be filled for now, keeping it and the rest pending.
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

// handle reads one live message and hands it to the relay.
func (l *loop) handle(ctx context.Context, in inbound) error {
	name, ok := l.b.channelOf(in.channel)
	if !ok {
		return nil
	}
	m, err := parseMessage(in.payload)
	if err != nil {
		l.relay.Unreadable(ctx, name, err)
		return nil
	}
	return l.relay.Handle(ctx, name, m.live())
}

// histories reads, for the relay's repair, the history of every channel of
// reads in one pipeline.
func (b *Broker) histories(ctx context.Context, reads []relay.Read) {
	execs := make([]rueidis.LuaExec, len(reads))
	for i := range reads {
		execs[i] = b.historyExec(reads[i].Channel, reads[i].Query)
	}
	for i, r := range luaHistory.ExecMulti(ctx, b.client, execs...) {
		reads[i].Page, reads[i].Err = b.page(reads[i].Channel, r)
	}
}

// newRelay is the relay of one Run.
func (b *Broker) newRelay(deliver func(*stream.Publication)) *relay.Relay {
	return relay.New(relay.Config{
		Name:       "redis pub/sub",
		Log:        b.log,
		Subs:       &b.subs,
		History:    b.History,
		Histories:  b.histories,
		Unreadable: &b.unreadable,
		Regressed:  b.regressed,
	}, deliver)
}

// regressed runs the regress script for ch, which this node delivered up
// to last, stored at lastTime, and whose history now ends before it (see
// [relay.Config.Regressed]).
func (b *Broker) regressed(ctx context.Context, ch string, last stream.Position, lastTime int64) error {
	args := []string{last.Epoch, strconv.FormatUint(last.Offset, 10), newEpoch(), b.pubsubName(ch),
		strconv.FormatInt(lastTime, 10)}
	if err := luaRegress.Exec(ctx, b.client, b.channelKeys(ch), args).Error(); err != nil {
		return fmt.Errorf("history %q: %w", ch, classify(err))
	}
	return nil
}

package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/stream"
)

// History reads the channel's history as stream.HistoryQuery describes and
// exactly as the memory broker answers: publications after q.Since when its
// epoch is the channel's (none when it is not), or from the oldest still
// kept when q.Since is nil; at most q.Limit of them (none for 0, all for a
// negative limit); oldest first, or newest first with q.Reverse. With both
// Since and Reverse it returns the newest publications after Since.
//
// The channel's newest message gives Latest and the history settings; the
// oldest publication still kept is the first one newer than the history
// TTL (one request, by time) and within the history size. Publications are
// then read one request each, walking forward from the oldest or back
// from the newest, whichever is shorter. Reading a channel the stream
// holds nothing of starts its epoch, which its first publication keeps.
// Each call returns new publications, which the caller may keep and must
// treat as read-only.
func (b *Broker) History(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	var page stream.HistoryPage
	err := b.withStream(ctx, func() (err error) {
		page, err = b.history(ctx, ch, q)
		return err
	})
	if err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, classify(err))
	}
	return page, nil
}

func (b *Broker) history(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	last, err := b.lastOrMarker(ctx, ch)
	if err != nil {
		return stream.HistoryPage{}, err
	}
	page := stream.HistoryPage{Latest: last.position(), Earliest: last.offset + 1}
	if last.offset == 0 {
		return page, nil
	}
	first, earliest, ok, err := b.oldestKept(ctx, ch, &last)
	if err != nil || !ok {
		return page, err
	}
	page.Earliest = earliest

	from, to := page.Earliest, last.offset // offsets, both inclusive
	if q.Since != nil {
		// Checked before adding one, which would wrap at the top of uint64.
		if q.Since.Epoch != last.epoch || q.Since.Offset >= to {
			return page, nil
		}
		from = max(from, q.Since.Offset+1)
	}
	if from > to || q.Limit == 0 {
		return page, nil
	}
	n := to - from + 1
	if q.Limit > 0 && uint64(q.Limit) < n {
		n = uint64(q.Limit)
	}
	lo, hi := from, from+n-1
	if q.Reverse {
		lo, hi = to-n+1, to
	}
	entries, reached, err := b.readRange(ctx, ch, &first, &last, lo, hi)
	if err != nil {
		return stream.HistoryPage{}, err
	}
	if reached > lo {
		// A hole in the stored run: what is before it can no longer be
		// read in order.
		page.Earliest = max(page.Earliest, reached)
	}
	name := strings.Clone(ch)
	pubs := make([]*stream.Publication, len(entries))
	for i := range entries {
		if pubs[i], err = entries[i].publication(name); err != nil {
			return stream.HistoryPage{}, fmt.Errorf("%w: %w", stream.ErrInternal, err)
		}
	}
	if q.Reverse {
		slices.Reverse(pubs)
	}
	page.Publications = pubs
	return page, nil
}

// lastOrMarker reads the channel's newest message; when the stream holds
// nothing of the channel, it stores a marker that starts the channel's
// epoch, so that every reader and the first publisher agree on it.
func (b *Broker) lastOrMarker(ctx context.Context, ch string) (entry, error) {
	for range maxAttempts {
		last, ok, err := b.last(ctx, ch)
		if err != nil || ok {
			return last, err
		}
		epoch := newEpoch()
		m := &natsgo.Msg{
			Subject: b.channelSubject(ch),
			Header:  natsgo.Header{hdrEpoch: {epoch}, hdrOffset: {"0"}},
		}
		ack, conflict, err := b.store(ctx, m, 0, jetstream.WithMsgTTL(ceilSecond(b.cfg.IdleTTL)))
		if err != nil {
			return entry{}, err
		}
		if !conflict {
			return entry{seq: ack.Sequence, epoch: epoch}, nil
		}
		// Someone else started the epoch, or published, first.
	}
	return entry{}, errContention
}

// oldestKept finds the oldest publication history still shows: newer than
// the history TTL, within the history size. ok is false when there is none.
//
// Expiry is final, as with the other brokers: publications found older
// than the TTL are purged from the stream, so that a later publication
// with a longer TTL does not bring them back. The newest message stays,
// since it holds the channel's position.
//
// It returns the channel's oldest stored publication that history may
// show, or one before it that the size no longer keeps but is not purged
// yet, and the offset history starts at.
func (b *Broker) oldestKept(ctx context.Context, ch string, last *entry) (first entry, earliest uint64, ok bool, err error) {
	var lo uint64
	switch {
	case last.size <= 0:
		return entry{}, 0, false, nil
	case last.offset >= uint64(last.size):
		lo = last.offset - uint64(last.size) + 1
	default:
		lo = 1
	}
	lo = max(lo, last.floor)
	subj := b.channelSubject(ch)
	first, err = b.getEntry(ctx, getRequest{NextFor: subj})
	if errors.Is(err, errNotFound) {
		return entry{}, 0, false, nil
	}
	if err != nil {
		return entry{}, 0, false, err
	}
	// The newest publication's TTL applies to the whole history.
	if since := time.Now().Add(-time.Duration(last.ttl) * time.Millisecond); last.ttl > 0 && first.ms < since.UnixMilli() {
		if first.seq == last.seq {
			return entry{}, 0, false, nil // only the position is left
		}
		live, err := b.getEntry(ctx, getRequest{NextFor: subj, StartTime: &since})
		switch {
		case errors.Is(err, errNotFound):
			if err := b.purge(ctx, ch, purgeKeep(1)); err != nil {
				return entry{}, 0, false, err
			}
			return entry{}, 0, false, nil
		case err != nil:
			return entry{}, 0, false, err
		}
		if err := b.purge(ctx, ch, purgeBefore(live.seq)); err != nil {
			return entry{}, 0, false, err
		}
		first = live
	}
	if first.offset == 0 || first.epoch != last.epoch {
		// The marker that started the epoch (or, after a race with a lost
		// stream, something older): the publications follow it.
		if first, err = b.next(ctx, ch, &first); err != nil {
			if errors.Is(err, errNotFound) {
				return entry{}, 0, false, nil
			}
			return entry{}, 0, false, err
		}
	}
	// What is older than the size keeps, and not trimmed yet, is skipped
	// when read.
	return first, max(first.offset, lo), true, nil
}

// readRange reads the publications with offsets lo..hi, oldest first. first
// is a stored publication at or before lo, last the newest.
//
// Reading back from the newest costs a round trip per publication; one
// batch request forward from first returns everything from first to hi,
// some of it only to be skipped. The batch is used when it is the cheaper:
// a batch costs about a third of a round trip per publication.
//
// reached is the oldest offset that could be read, lo unless a hole in the
// stored run (a message deleted on its own) stopped the walk.
func (b *Broker) readRange(ctx context.Context, ch string, first, last *entry, lo, hi uint64) (out []entry, reached uint64, err error) {
	walk := last.offset - lo
	if batch := hi - first.offset + 1; walk > 2 && batch <= 3*walk {
		if out, ok, err := b.readForward(ctx, ch, first, lo, hi); err != nil || ok {
			return out, lo, err
		}
		// A hole on the way, or a replica that lags: walking back from
		// the newest finds where the readable run starts.
	}
	return b.readBackward(ctx, last, lo, hi)
}

// readForward reads from first to hi with batch direct gets. ok is false
// when the offsets are not contiguous on the way, or the batch ends early.
func (b *Broker) readForward(ctx context.Context, ch string, first *entry, lo, hi uint64) ([]entry, bool, error) {
	out := make([]entry, 0, hi-lo+1)
	next := *first // the next offset to read is next.offset, at next.seq or later
	expect, epoch := first.offset, first.epoch
	for expect <= hi {
		got, err := b.getBatch(ctx, b.channelSubject(ch), next.seq, int(min(hi-expect+1, maxBatch)))
		if err != nil || len(got) == 0 {
			return nil, false, err
		}
		for _, e := range got {
			if e.offset != expect || e.epoch != epoch {
				return nil, false, nil
			}
			if e.offset >= lo && e.offset <= hi {
				out = append(out, e)
			}
			expect++
			next.seq = e.seq + 1
		}
	}
	return out, true, nil
}

// readBackward follows each message's link to the one before it, from the
// newest down to lo, and returns lo..hi oldest first. It stops early at a
// message that is gone; reached is the oldest offset it could read.
func (b *Broker) readBackward(ctx context.Context, last *entry, lo, hi uint64) (out []entry, reached uint64, err error) {
	out = make([]entry, 0, hi-lo+1)
	cur := *last
	for {
		if cur.offset <= hi {
			out = append(out, cur)
		}
		if cur.offset <= lo || cur.prev == 0 {
			break
		}
		prev, err := b.getEntry(ctx, getRequest{Seq: cur.prev})
		if errors.Is(err, errNotFound) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if prev.offset != cur.offset-1 || prev.epoch != cur.epoch {
			break
		}
		cur = prev
	}
	slices.Reverse(out)
	return out, cur.offset, nil
}

// next reads the channel's message after cur.
func (b *Broker) next(ctx context.Context, ch string, cur *entry) (entry, error) {
	return b.getEntry(ctx, getRequest{Seq: cur.seq + 1, NextFor: b.channelSubject(ch)})
}

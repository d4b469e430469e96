package memory

import (
	"context"
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// History reads the channel's history as stream.HistoryQuery describes:
// publications after q.Since when its epoch is the channel's (none when it is
// not), or from the oldest still kept when q.Since is nil; at most q.Limit of
// them (none for 0, all for a negative limit); oldest first, or newest first
// with q.Reverse. With both Since and Reverse it returns the newest
// publications after Since, so a forward walk is the way to page through a
// long gap.
//
// Reading a channel the broker holds no state for starts its epoch, which
// the channel's first publication then keeps. Each call returns a new
// slice, nil when empty, which the caller may keep; the publications in it
// are shared and read-only.
func (b *Broker) History(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history: %w", err)
	}

	c := b.lock(ch)
	defer c.mu.Unlock()
	now := b.now().UnixNano()
	c.lastUsed = now
	c.expire(now)

	page := stream.HistoryPage{Latest: c.latest(), Earliest: c.firstOffset()}
	from, to := page.Earliest, c.top // offsets, both inclusive
	if q.Since != nil {
		// Checked before adding one, which would wrap at the top of uint64.
		if q.Since.Epoch != c.epoch || q.Since.Offset >= to {
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

	// The ring holds offsets Earliest..top, so offset o is at o-Earliest.
	pubs := make([]*stream.Publication, n)
	if q.Reverse {
		last := int(to - page.Earliest)
		for i := range pubs {
			pubs[i] = c.hist.at(last - i)
		}
	} else {
		first := int(from - page.Earliest)
		for i := range pubs {
			pubs[i] = c.hist.at(first + i)
		}
	}
	page.Publications = pubs
	return page, nil
}

// ring is a channel's history: a FIFO of publications in offset order that
// grows on demand up to the channel's history size and gives memory back when
// it empties. Re-slicing a plain slice from the front would keep the dropped
// publications' backing array alive; a ring reuses it instead.
//
// The zero ring is empty and holds no memory.
type ring struct {
	buf  []*stream.Publication
	head int // index in buf of the oldest publication
	n    int // number of publications held
}

// minRing is the first allocation for a channel's history. Most channels
// hold a handful of publications; growing by doubling from here keeps their
// cost low while large histories still amortise to one copy per element.
const minRing = 8

// at returns the i-th oldest publication, 0 <= i < n.
func (r *ring) at(i int) *stream.Publication {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return r.buf[j]
}

func (r *ring) oldest() *stream.Publication { return r.buf[r.head] }

func (r *ring) dropOldest() {
	r.buf[r.head] = nil // let the publication be collected
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
}

// push appends p, first dropping the oldest publications so that at most
// limit remain, which also applies a limit that shrank since the last push.
// A limit below 1 empties the ring and keeps nothing.
func (r *ring) push(p *stream.Publication, limit int) {
	if limit < 1 {
		r.reset()
		return
	}
	for r.n >= limit {
		r.dropOldest()
	}
	if r.n == len(r.buf) {
		r.resize(min(max(2*len(r.buf), minRing), limit))
	}
	j := r.head + r.n
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	r.buf[j] = p
	r.n++
}

// reset empties the ring and frees its buffer.
func (r *ring) reset() {
	*r = ring{}
}

// compact gives back memory that a shrunken history no longer uses: all of it
// when the ring is empty, half or more when it is at most a quarter full.
// Called by the sweeper, so a busy channel is not reallocated on every
// publish.
func (r *ring) compact() {
	switch {
	case r.n == 0:
		r.reset()
	case len(r.buf) > minRing && r.n <= len(r.buf)/4:
		r.resize(max(2*r.n, minRing))
	}
}

// resize moves the publications, oldest first, into a new buffer of the
// given capacity, which must be at least n.
func (r *ring) resize(capacity int) {
	buf := make([]*stream.Publication, capacity)
	k := copy(buf, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(buf[k:], r.buf[:r.n-k])
	r.buf, r.head = buf, 0
}

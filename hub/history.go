package hub

import (
	"context"

	"github.com/switchboardhq/switchboard/stream"
)

// pubOverhead estimates the bytes a publication's JSON carries beyond its
// data, key, channel, epoch and info: field names, offset and time.
const pubOverhead = 96

// ReplySize estimates the bytes a publication takes in a reply, the measure
// of [Config.MaxReplyBytes].
func ReplySize(p *stream.Publication) int {
	n := pubOverhead + len(p.Data) + len(p.Key) + len(p.Channel) + len(p.Epoch)
	if p.Info != nil {
		n += len(p.Info.Client) + len(p.Info.User) + len(p.Info.Info)
	}
	return n
}

// history reads a channel's history for a reply: at most q.Limit
// publications and at most Config.MaxReplyBytes of them (by [ReplySize]),
// but at least one when any matches. A reply cut by the byte budget holds
// fewer than q.Limit; the client pages on with Since set to the last
// publication's position (in Reverse order it holds the newest ones). The
// broker is read in pages of at most maxReplayPage publications, so the hub
// never holds more than one page beyond the budget.
//
// Reverse pages are read forward by offset below the newest page, which
// works because a channel's offsets within an epoch have no holes.
func (h *Hub) history(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if q.Limit == 0 {
		return h.readHistory(ctx, channel, q)
	}
	want := q.Limit // negative: all
	pageLimit := func(have int) int {
		if want < 0 {
			return maxReplayPage
		}
		return min(maxReplayPage, want-have)
	}
	first := q
	first.Limit = pageLimit(0)
	page, err := h.readHistory(ctx, channel, first)
	if err != nil {
		return page, err
	}
	out := stream.HistoryPage{Latest: page.Latest, Earliest: page.Earliest}
	used := 0
	// take appends what the budget allows and reports whether to go on.
	take := func(pubs []*stream.Publication) bool {
		for _, p := range pubs {
			n := ReplySize(p)
			if len(out.Publications) > 0 && used+n > h.cfg.MaxReplyBytes {
				return false
			}
			used += n
			out.Publications = append(out.Publications, p)
			if want >= 0 && len(out.Publications) >= want {
				return false
			}
		}
		return true
	}
	more := take(page.Publications) && len(page.Publications) == first.Limit
	for more {
		pubs := page.Publications
		last := pubs[len(pubs)-1]
		next := stream.HistoryQuery{Limit: pageLimit(len(out.Publications))}
		if !q.Reverse {
			next.Since = &stream.Position{Epoch: last.Epoch, Offset: last.Offset}
		} else {
			// Newest first: the next page is the Limit offsets below the
			// oldest one read, above q.Since.
			floor := uint64(0)
			if q.Since != nil {
				floor = q.Since.Offset
			}
			if last.Offset <= floor+1 {
				break
			}
			from := max(floor, last.Offset-1-min(last.Offset-1, uint64(next.Limit)))
			next.Limit = int(last.Offset - 1 - from)
			next.Since = &stream.Position{Epoch: last.Epoch, Offset: from}
		}
		page, err = h.readHistory(ctx, channel, next)
		if err != nil {
			return stream.HistoryPage{}, err
		}
		pubs = page.Publications
		if q.Reverse {
			// Keep what is below the oldest already read, newest first.
			kept := pubs[:0:0]
			for i := len(pubs) - 1; i >= 0; i-- {
				if pubs[i].Epoch == last.Epoch && pubs[i].Offset < last.Offset {
					kept = append(kept, pubs[i])
				}
			}
			pubs = kept
		}
		if len(pubs) == 0 {
			break
		}
		page.Publications = pubs
		more = take(pubs) && len(pubs) == next.Limit
	}
	return out, nil
}

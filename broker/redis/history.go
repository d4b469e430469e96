package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/stream"
)

// History runs the history script, which reads the channel's positions and
// the publications asked for in one round trip, as stream.HistoryQuery
// describes and exactly as the memory broker answers: publications after
// q.Since when its epoch is the channel's (none when it is not), or from
// the oldest still kept when q.Since is nil; at most q.Limit of them (none
// for 0, all for a negative limit); oldest first, or newest first with
// q.Reverse. With both Since and Reverse it returns the newest publications
// after Since.
//
// Reading a channel Redis holds nothing for starts its epoch, which the
// channel's first publication then keeps. Publications older than the
// channel's history TTL are dropped before reading, so what is returned
// never includes one that aged out. Each call returns new publications,
// which the caller may keep and must treat as read-only.
func (b *Broker) History(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, err)
	}
	if err := stream.ValidateChannel(ch); err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	x := b.historyExec(ch, q)
	return b.page(ch, luaHistory.Exec(ctx, b.client, x.Keys, x.Args))
}

// page reads r, the history script's answer for ch.
func (b *Broker) page(ch string, r rueidis.RedisResult) (stream.HistoryPage, error) {
	reply, err := r.ToArray()
	if err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, classify(err))
	}
	page, err := parsePage(ch, reply)
	if err != nil {
		return stream.HistoryPage{}, fmt.Errorf("history %q: %w", ch, err)
	}
	return page, nil
}

// historyExec is the script call that answers q for ch, for History and for
// the repair of many channels in one pipeline.
func (b *Broker) historyExec(ch string, q stream.HistoryQuery) rueidis.LuaExec {
	var sinceEpoch, sinceOffset string
	if q.Since != nil {
		sinceEpoch = q.Since.Epoch
		sinceOffset = strconv.FormatUint(q.Since.Offset, 10)
	}
	limit := "-1"
	if q.Limit >= 0 {
		limit = strconv.Itoa(q.Limit)
	}
	reverse := "0"
	if q.Reverse {
		reverse = "1"
	}
	return rueidis.LuaExec{
		Keys: b.channelKeys(ch),
		Args: []string{newEpoch(), sinceEpoch, sinceOffset, limit, reverse, b.idleMS},
	}
}

// parsePage reads the history script's reply: the epoch, the latest and
// earliest offsets, then an entry ID and a body per publication.
func parsePage(ch string, reply []rueidis.RedisMessage) (stream.HistoryPage, error) {
	if len(reply) < 3 || len(reply)%2 == 0 {
		return stream.HistoryPage{}, fmt.Errorf("%w: history script returned %d values", stream.ErrInternal, len(reply))
	}
	epoch, err1 := reply[0].ToString()
	latest, err2 := reply[1].AsInt64()
	earliest, err3 := reply[2].AsInt64()
	if err1 != nil || err2 != nil || err3 != nil || latest < 0 || earliest < 1 {
		return stream.HistoryPage{}, fmt.Errorf("%w: malformed history script reply", stream.ErrInternal)
	}
	page := stream.HistoryPage{
		Latest:   stream.Position{Epoch: epoch, Offset: uint64(latest)},
		Earliest: uint64(earliest),
	}
	entries := reply[3:]
	if len(entries) == 0 {
		return page, nil
	}
	// One allocation for every publication of the page, which the caller
	// keeps or drops as a whole.
	pubs := make([]stream.Publication, len(entries)/2)
	page.Publications = make([]*stream.Publication, len(pubs))
	for i := range pubs {
		id, err1 := entries[2*i].ToString()
		data, err2 := entries[2*i+1].ToString()
		if err1 != nil || err2 != nil {
			return stream.HistoryPage{}, fmt.Errorf("%w: malformed history entry", stream.ErrInternal)
		}
		p := &pubs[i]
		var err error
		if p.Offset, p.Time, err = parseID(id); err != nil {
			return stream.HistoryPage{}, fmt.Errorf("%w: %w", stream.ErrInternal, err)
		}
		if err := body.Decode([]byte(data), p); err != nil {
			return stream.HistoryPage{}, fmt.Errorf("%w: offset %d: %w", stream.ErrInternal, p.Offset, err)
		}
		p.Channel, p.Epoch = ch, epoch
		page.Publications[i] = p
	}
	return page, nil
}

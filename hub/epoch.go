package hub

import "github.com/switchboardhq/switchboard/stream"

// Gap tells a subscriber that its channel's history was replaced under it:
// the broker lost the channel (a Redis that restarted empty, say) and the
// channel goes on in a new epoch. What the subscriber had after From is
// gone, and the publications that follow the gap are the new epoch's. The
// hub queues a Gap ahead of the first publication of the new epoch, so no
// subscriber ever switches epochs silently; the application reloads its
// state, as after a subscribe that was not recovered.
type Gap struct {
	Channel string
	// From is the position the subscriber had: the last one of the old
	// epoch delivered on this node.
	From stream.Position
	// Epoch is the channel's new epoch. The subscriber's position becomes
	// offset 0 of it: the next publication continues from there.
	Epoch string
}

// Position is where the subscriber stands after the gap: the start of the
// new epoch.
func (g *Gap) Position() stream.Position { return stream.Position{Epoch: g.Epoch} }

// epochChange says whether p, delivered to a live subscription, starts a
// new epoch for it, and from which position. last is the channel's newest
// position delivered on this node before p; when the node has delivered
// nothing yet on the channel, the subscription's floor (where it went
// live) stands in for it. A subscription already in p's epoch (it went
// live after the change) has nothing to be told.
func epochChange(last, floor stream.Position, p *stream.Publication) (stream.Position, bool) {
	from := last
	if from.Epoch == "" {
		from = floor
	}
	if from.Epoch == "" || from.Epoch == p.Epoch || floor.Epoch == p.Epoch {
		return stream.Position{}, false
	}
	return from, true
}

// gapItem builds the item that announces g to a session using enc.
func gapItem(enc Encoder, g *Gap) Item {
	return Item{Gap: g, Bytes: enc.Gap(g)}
}

// gapEncodings caches a gap's bytes per Encoder during one fan-out, as
// encodings does for the publication. Every subscriber of the channel is
// told the same gap (from the channel's last position) unless the node had
// delivered nothing yet, so it rarely holds more than one gap per Encoder.
type gapEncodings struct {
	entries []gapEncoding
}

type gapEncoding struct {
	enc Encoder
	gap *Gap
	b   []byte
}

func (c *gapEncodings) item(e Encoder, from stream.Position, p *stream.Publication) Item {
	for _, x := range c.entries {
		if x.enc == e && x.gap.From == from {
			return Item{Gap: x.gap, Bytes: x.b}
		}
	}
	g := &Gap{Channel: p.Channel, From: from, Epoch: p.Epoch}
	for _, x := range c.entries {
		if x.gap.From == from {
			g = x.gap // one Gap value for every encoder
			break
		}
	}
	b := e.Gap(g)
	c.entries = append(c.entries, gapEncoding{enc: e, gap: g, b: b})
	return Item{Gap: g, Bytes: b}
}

// epochStart says where a subscription whose position since is in another
// epoch than the channel's starts its replay with
// SubscribeOptions.EpochStart: at the oldest publication of the new epoch
// that history still holds. There is nothing to replay when the epoch is
// the same (since was too old: the client is told, and starts live), when
// the new epoch has no publication, or when it has more than MaxRecovery.
func (h *Hub) epochStart(since stream.Position, page stream.HistoryPage) (uint64, bool) {
	latest := page.Latest
	if since.Epoch == latest.Epoch || latest.Offset == 0 {
		return 0, false
	}
	first := max(page.Earliest, 1)
	if first > latest.Offset || latest.Offset-first >= uint64(h.cfg.MaxRecovery) {
		return 0, false
	}
	return first, true
}

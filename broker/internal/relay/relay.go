package relay

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/stream"
)

const (
	// ReadTimeout bounds one history read made to fill a gap, and one
	// batch of reads made to repair; a broker that does not answer in that
	// time is treated as unavailable.
	ReadTimeout = 10 * time.Second
	// RepairBatch is how many channels one [Config.Histories] call reads
	// when a repair covers many subscriptions.
	RepairBatch = 256
)

// Live is a publication as it arrived from another node, with its position
// read and its body (see package body) not yet decoded: repeats are
// dropped without decoding them.
type Live struct {
	// Epoch may share memory with a larger message; the relay copies it
	// before keeping it.
	Epoch  string
	Offset uint64
	// Time is when the publication was stored, Unix ms.
	Time int64
	// Body is handed over: the publication's Data points into it.
	Body []byte
}

// Read is one channel's history read, which [Config.Histories] fills in.
type Read struct {
	Channel string
	Query   stream.HistoryQuery
	Page    stream.HistoryPage
	Err     error
}

// Config is what a broker gives its relay.
type Config struct {
	// Name starts the relay's log lines: "redis pub/sub", "nats".
	Name string
	// Log receives what the relay could not deliver. Required.
	Log *slog.Logger
	// Subs are the node's subscriptions; the broker adds and removes them.
	// Required.
	Subs *Set
	// History reads a channel's history as hub.Broker.History does, with
	// its errors wrapped as the broker's History wraps them. Required.
	History func(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error)
	// Histories, if set, answers many reads at once (Redis: in one
	// pipeline); a repair then reads up to RepairBatch channels per call.
	// Without it, a repair reads one channel at a time with History.
	Histories func(ctx context.Context, reads []Read)
	// Unreadable, if set, counts the live publications this node could
	// not read (see [Relay.Unreadable]), for the broker to report.
	Unreadable *atomic.Uint64
	// Regressed, if set, is called when a history read shows channel ch
	// in the epoch of last, the position last delivered, but ending
	// before it: the broker lost publications the node delivered (Redis:
	// a primary acknowledged them alone and a replica that lacks them took
	// over), and would give their offsets, in the same epoch, to new
	// publications that every subscriber would drop as repeats. It must
	// move the channel to a new epoch if, atomically, the channel is
	// still in last's epoch and still ends before last, and otherwise
	// change nothing. The new epoch holds, in order, what the old one
	// stored after lastTime (Unix ms; 0 when the node delivered nothing
	// yet): the publications that came after the loss, which nobody has
	// seen. The relay then reads the channel again and delivers the new
	// epoch from its start. Its errors are those of History. A broker
	// whose history never goes backwards within an epoch (NATS: a lost
	// stream is a new epoch) leaves it nil, and the relay then does not
	// look for a regression.
	Regressed func(ctx context.Context, ch string, last stream.Position, lastTime int64) error
}

// Relay delivers the live publications a broker hands it, in offset order
// per channel and exactly once, and fills what they reveal was missed from
// history. One goroutine — the broker's Run — calls its methods, so it
// calls deliver one publication at a time, and it alone moves each
// subscription's position.
//
// It checks every publication against the position of its channel: a
// repeat is dropped, the next offset is delivered, and anything else (a
// gap, a new epoch) is first filled from history. That one rule makes live
// delivery, the repair after a reconnection and the race between reading
// a position and subscribing all come out in order, exactly once.
//
// # Errors
//
// The relay decides once, for both brokers, what each kind of failure
// means. None of them is a silent drop; none of them stops Run.
//
//   - The context ended: the method returns the context's error and has
//     delivered nothing it should not have; Run returns.
//   - A transient read error — the broker is unreachable, or did not
//     answer within ReadTimeout ([Transient]): nothing is skipped. Handle
//     and Repair return the error and leave positions where they were;
//     the broker waits ([Retry]) or reconnects, and the live publication
//     is handled again, or the repair that follows reads past it.
//   - A permanent read error — the broker answered, but not with history
//     this node can read (a publication stored by a later version, a
//     damaged entry): what cannot be read becomes a gap, logged at Error.
//     Filling a gap, the live publication that revealed it is delivered
//     after the gap, so subscribers see its offset jump, which clients
//     report as a gap; waiting would hold the channel up for good, since
//     an unreadable entry stays unreadable until history drops it. A
//     repair skips the channel; its next live publication finds the gap.
//   - A live publication this node cannot read ([Relay.Unreadable], or a
//     body Handle cannot decode): counted ([Config.Unreadable]), logged at
//     Error once a LogInterval per channel, and filled from history at
//     once, as a repair of its channel would: history may hold it in a
//     form this node reads. If history cannot read it either, it is a gap
//     as above, which the channel's next publication shows; it is never
//     waited for, and never silently passed over.
//   - A new epoch (the broker lost the channel's history): everything of
//     the new epoch up to the live publication is delivered first.
//   - History that went backwards (the channel ends, in the same epoch,
//     before the position last delivered): [Config.Regressed] moves the
//     channel, with what was stored after the loss, to a new epoch, which
//     is then delivered from its start, so subscribers are told of the
//     epoch change instead of dropping the publications that reuse the
//     lost offsets. A repair looks for it on
//     every channel it reads; until a repair has seen a channel reach its
//     position again, a live publication at or below that position is
//     checked against history rather than dropped as a repeat.
//
// Subscribers are told of a gap by the offsets they receive: hub.Broker
// has no other way to say it.
type Relay struct {
	cfg     Config
	deliver func(*stream.Publication)
	// logs and gapLogs limit the lines about what could not be read, live
	// and from history, per channel.
	logs, gapLogs limiter
}

// New returns a relay that delivers by calling deliver, for one Run.
func New(cfg Config, deliver func(*stream.Publication)) *Relay {
	return &Relay{cfg: cfg, deliver: deliver}
}

// Transient reports whether err, from a history read, is worth waiting
// for and trying again: the broker was unavailable, or did not answer in
// time. Every other error is permanent: trying again would fail the same
// way. An error that wraps stream.ErrInternal is permanent whatever else
// it wraps.
func Transient(err error) bool {
	if errors.Is(err, stream.ErrInternal) {
		return false
	}
	return errors.Is(err, stream.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Handle delivers m, a live publication of channel ch, and before it
// whatever the channel missed. It returns only a transient error (see
// [Relay]), after which m has not been delivered and must be handled
// again, or a repair must read past it. A channel the node is not
// subscribed to is ignored.
func (r *Relay) Handle(ctx context.Context, ch string, m Live) error {
	s := r.cfg.Subs.Get(ch)
	if s == nil {
		return nil
	}
	if s.suspect && m.Epoch == s.pos.Epoch && m.Offset <= s.pos.Offset {
		// History may have gone backwards under s and not been repaired
		// since: m may be a new publication at a lost offset.
		if err := r.Repair(ctx, []*Sub{s}); err != nil {
			return err
		}
	}
	switch {
	case m.Epoch == s.pos.Epoch && m.Offset <= s.pos.Offset:
		return nil // delivered already, by a repair or before a reconnection
	case m.Epoch == s.pos.Epoch && m.Offset == s.pos.Offset+1:
	case s.pos.Epoch == "" && m.Offset == 1:
		// The channel's first publication, on a channel that had no
		// position when it was subscribed.
	default:
		current, err := r.catchUp(ctx, s, &m)
		if err != nil || !current {
			return err
		}
		if m.Epoch == s.pos.Epoch && m.Offset <= s.pos.Offset {
			return nil
		}
	}
	epoch := s.pos.Epoch
	if m.Epoch != epoch {
		epoch = strings.Clone(m.Epoch)
	}
	p := &stream.Publication{Channel: s.name, Epoch: epoch, Offset: m.Offset, Time: m.Time}
	if err := body.Decode(m.Body, p); err != nil {
		r.unreadable(ctx, s.name, err)
		return nil
	}
	r.cfg.Subs.send(s, p, r.deliver)
	return nil
}

// Unreadable handles a live message of channel ch that the broker could
// not read even a position from: another node speaks a format this one
// does not know (a rolling upgrade across a format change), or the broker
// sent it without what the node needs. It is counted and logged (once a
// LogInterval per channel), and the channel is filled from history at
// once: what history can read is delivered now, not when the channel's
// next publication comes, which may be never; what it cannot read is a
// gap (see [Relay]). A history that is unreachable for now leaves the
// gap to the channel's next publication or the broker's next repair.
func (r *Relay) Unreadable(ctx context.Context, ch string, err error) {
	r.unreadable(ctx, ch, err)
}

func (r *Relay) unreadable(ctx context.Context, ch string, err error) {
	if c := r.cfg.Unreadable; c != nil {
		c.Add(1)
	}
	if ok, suppressed := r.logs.allow(ch); ok {
		r.cfg.Log.Error(r.cfg.Name+": a publication this node cannot read; filling the channel from history, or subscribers see a gap",
			"channel", ch, "err", err, "suppressed", suppressed, "per", LogInterval)
	}
	s := r.cfg.Subs.Get(ch)
	if s == nil {
		return
	}
	if err := r.Repair(ctx, []*Sub{s}); err != nil {
		r.cfg.Log.Debug(r.cfg.Name+": cannot fill from history yet; the channel's next publication or repair does",
			"channel", ch, "err", err)
	}
}

// catchUp delivers, from history, what s missed before m: the offsets
// between its position and m's in the same epoch, or everything of m's
// epoch before m when the epoch changed. It reports whether m is of the
// channel's current epoch, so it is to be delivered: history that has
// moved on to another epoch means m arrived late, from an epoch the
// channel has left (on a connection to a server that no longer holds the
// channel, say), and delivering it would take subscribers back to that
// epoch and then through the current one a second time. s is brought to
// the current epoch by a repair instead, and m is dropped. A history that
// cannot be read leaves m to be delivered as it is, the gap logged.
func (r *Relay) catchUp(ctx context.Context, s *Sub, m *Live) (current bool, err error) {
	q := stream.HistoryQuery{Limit: clampLimit(m.Offset - 1)}
	if m.Epoch == s.pos.Epoch {
		since := s.pos
		q.Since = &since
		q.Limit = clampLimit(m.Offset - s.pos.Offset - 1)
	}
	page, err := r.read(ctx, s.name, q)
	if err != nil {
		if Transient(err) {
			return false, err
		}
		if ok, suppressed := r.gapLogs.allow(s.name); ok {
			r.cfg.Log.Error(r.cfg.Name+": cannot fill a gap from history; subscribers see it",
				"channel", s.name, "from", s.pos, "before", m.Offset, "err", err, "suppressed", suppressed, "per", LogInterval)
		}
		return true, nil
	}
	if page.Latest.Epoch != m.Epoch {
		return false, r.Repair(ctx, []*Sub{s})
	}
	r.sendAll(s, page.Publications, m.Offset)
	return true, nil
}

func clampLimit(n uint64) int { return int(min(n, math.MaxInt32)) }

// Repair delivers, for each of subs, what was published after its position
// and has not been delivered: what a connection that was down, or a
// message dropped on the way, may have missed. If the broker lost a
// channel (its epoch changed), the new epoch's publications are delivered
// from its start. It returns only a transient error (see [Relay]), at the
// first channel it meets one on; the channels before it are repaired.
func (r *Relay) Repair(ctx context.Context, subs []*Sub) error {
	var reads []Read
	if r.cfg.Histories != nil {
		reads = make([]Read, 0, min(len(subs), RepairBatch))
	}
	for len(subs) > 0 {
		batch := subs[:min(len(subs), RepairBatch)]
		subs = subs[len(batch):]
		if r.cfg.Regressed != nil {
			for _, s := range batch {
				s.suspect = true
			}
		}
		if r.cfg.Histories != nil {
			reads = reads[:0]
			for _, s := range batch {
				reads = append(reads, Read{Channel: s.name, Query: after(s.pos)})
			}
			rctx, cancel := context.WithTimeout(ctx, ReadTimeout)
			r.cfg.Histories(rctx, reads)
			cancel()
		}
		for i, s := range batch {
			var page stream.HistoryPage
			var err error
			if reads != nil {
				page, err = reads[i].Page, reads[i].Err
			} else {
				page, err = r.read(ctx, s.name, after(s.pos))
			}
			if err == nil && r.cfg.Regressed != nil && regressed(s.pos, page.Latest) {
				err = r.regressed(ctx, s, page.Latest)
				if err == nil {
					page, err = r.read(ctx, s.name, after(s.pos))
				}
			}
			if err == nil && s.pos.Epoch != "" && page.Latest.Epoch != s.pos.Epoch {
				// All of the new epoch is news.
				page, err = r.read(ctx, s.name, stream.HistoryQuery{Limit: -1})
			}
			if err != nil {
				if Transient(err) {
					return err
				}
				if ok, suppressed := r.gapLogs.allow(s.name); ok {
					r.cfg.Log.Error(r.cfg.Name+": cannot repair a channel from history; its next publication tries again",
						"channel", s.name, "err", err, "suppressed", suppressed, "per", LogInterval)
				}
				continue
			}
			r.sendAll(s, page.Publications, 0)
			if !regressed(s.pos, page.Latest) {
				s.suspect = false
			}
		}
	}
	return nil
}

// regressed reports whether latest, a channel's end as history read it,
// is in the epoch of pos, the position last delivered, and before it.
func regressed(pos, latest stream.Position) bool {
	return pos.Epoch != "" && latest.Epoch == pos.Epoch && latest.Offset < pos.Offset
}

// regressed has the broker move s's channel, whose history ended at latest
// before s's position, to a new epoch (see [Config.Regressed]). It returns
// History's errors; nil when the channel may be read again.
func (r *Relay) regressed(ctx context.Context, s *Sub, latest stream.Position) error {
	r.cfg.Log.Error(r.cfg.Name+": history went backwards: the broker lost publications this node delivered; moving the channel to a new epoch, which subscribers are told of",
		"channel", s.name, "delivered", s.pos, "history ends", latest)
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	return r.cfg.Regressed(ctx, s.name, s.pos, s.time)
}

// after asks for everything after pos, or everything when pos is zero.
func after(pos stream.Position) stream.HistoryQuery {
	q := stream.HistoryQuery{Limit: -1}
	if pos.Epoch != "" {
		q.Since = &pos
	}
	return q
}

// read is one History call, bounded by ReadTimeout.
func (r *Relay) read(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	return r.cfg.History(ctx, ch, q)
}

// sendAll delivers the publications of pubs that come after s's position
// and, unless before is 0, before that offset.
func (r *Relay) sendAll(s *Sub, pubs []*stream.Publication, before uint64) {
	for _, p := range pubs {
		if before != 0 && p.Offset >= before {
			return
		}
		if p.Epoch == s.pos.Epoch && p.Offset <= s.pos.Offset {
			continue
		}
		r.cfg.Subs.send(s, p, r.deliver)
	}
}

package nats

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/internal/backoff"
	"github.com/switchboardhq/switchboard/stream"
)

// maxAttempts bounds how often one publish retries after losing the race
// for a channel's next offset to another node.
const maxAttempts = 1000

var (
	errContention = errors.New("too much contention for the channel's next offset")
	// errFirstGone: JetStream recognised a repeated deduplication ID, but
	// the first publication is no longer in the stream to say where it
	// landed (a channel that keeps no history trimmed it).
	errFirstGone = errors.New("the first publication of this key was trimmed")
)

// Publish stores a publication as the channel's next offset and, through
// the stream's republishing, sends it to every node subscribed to the
// channel. The offset is the channel's latest plus one, made gapless by
// JetStream's per-subject check: the publication is stored only if the
// channel's newest message is still the one its offset was computed from,
// and is computed again otherwise.
//
// A request whose Key was already used on the channel in its epoch within
// KeyTTL returns the first position with Duplicate set. The first request's
// KeyTTL decides how long the key is remembered; JetStream's message TTLs
// have a granularity of a second, so shorter windows last a second. A
// negative HistorySize keeps nothing, like 0; a negative HistoryTTL means no
// time limit, like 0; a negative KeyTTL means stream.DefaultKeyTTL, like 0.
// As with the other brokers, the newest publication's history settings
// apply to the whole history.
//
// An error wraps the context's error, stream.ErrUnavailable when NATS could
// not be reached, or stream.ErrInternal. After an error that is not the
// context's, the publication may or may not have been stored: publishers
// that retry should send an idempotency key.
func (b *Broker) Publish(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error) {
	if err := ctx.Err(); err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w", req.Channel, err)
	}
	if err := stream.ValidateChannel(req.Channel); err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish: %w", err)
	}
	if err := stream.ValidateKey(req.Key); err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w", req.Channel, err)
	}
	return b.publish(ctx, &req, body.Encode(&req))
}

// publish stores req, with data as its body, keyed or not.
func (b *Broker) publish(ctx context.Context, req *stream.PublishRequest, data []byte) (stream.PublishResult, error) {
	lock := lockOf(&b.pubs, req.Channel)
	lock.Lock()
	defer lock.Unlock()

	var res stream.PublishResult
	err := b.withStream(ctx, func() (err error) {
		if req.Key != "" {
			res, err = b.publishKeyed(ctx, req, data)
		} else {
			res, err = b.appendPub(ctx, req, data, "")
		}
		return err
	})
	if err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w", req.Channel, classify(err))
	}
	return res, nil
}

// appendPub stores req, with data as its body, as the channel's next
// publication. msgID, when set, is the stream's deduplication ID: a second
// message with it within the stream's duplicate window is not stored, and
// appendPub returns the first one's position as a duplicate.
func (b *Broker) appendPub(ctx context.Context, req *stream.PublishRequest, data []byte, msgID string) (stream.PublishResult, error) {
	ch := req.Channel
	size := max(req.HistorySize, 0)
	ttlMS := millis(max(req.HistoryTTL, 0))
	var opts []jetstream.PublishOpt
	if ttl := b.publicationTTL(size, ttlMS); ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	for attempt := range maxAttempts {
		if err := ctx.Err(); err != nil {
			return stream.PublishResult{}, err
		}
		last, ok, err := b.last(ctx, ch)
		if err != nil {
			return stream.PublishResult{}, err
		}
		epoch, offset, prev, floor := newEpoch(), uint64(1), uint64(0), uint64(0)
		if ok {
			epoch, offset, prev, floor = last.epoch, last.offset+1, last.seq, last.floor
			if last.offset > 0 && last.expired(time.Now()) {
				// All history had aged out; the newest message only held
				// the channel's position, and a longer TTL from now on
				// must not show it again.
				floor = offset
			}
		}
		m := &natsgo.Msg{
			Subject: b.channelSubject(ch),
			Header:  publicationHeader(epoch, offset, prev, size, ttlMS, floor),
			Data:    data,
		}
		ack, conflict, err := b.store(ctx, m, prev, opts...)
		if err != nil {
			return stream.PublishResult{}, err
		}
		if conflict {
			// Another node took the offset: compute it again, after a
			// short random pause so that racing nodes spread out.
			if !backoff.Sleep(ctx, time.Duration(rand.Int64N(int64(min(attempt+1, 20))*int64(time.Millisecond)))) {
				return stream.PublishResult{}, ctx.Err()
			}
			continue
		}
		if ack.Duplicate {
			first, err := b.getEntry(ctx, getRequest{Seq: ack.Sequence})
			if errors.Is(err, errNotFound) {
				return stream.PublishResult{}, errFirstGone
			}
			if err != nil {
				return stream.PublishResult{}, fmt.Errorf("reading the publication its idempotency key names: %w", err)
			}
			return stream.PublishResult{Position: first.position(), Duplicate: true}, nil
		}
		b.trim(ctx, ch, offset, size)
		return stream.PublishResult{Position: stream.Position{Epoch: epoch, Offset: offset}}, nil
	}
	return stream.PublishResult{}, errContention
}

// publicationTTL is the message TTL of a publication: as long as it may be
// read as history and IdleTTL beyond, because the channel's newest message
// also carries the channel's epoch and offset, which must outlive its
// history as the Redis broker's meta hash does. A history with no time
// limit lives until trimmed by size (0: no TTL).
func (b *Broker) publicationTTL(size int, ttlMS int64) time.Duration {
	if size > 0 && ttlMS == 0 {
		return 0
	}
	live := time.Duration(0)
	if size > 0 {
		live = time.Duration(ttlMS) * time.Millisecond
	}
	return ceilSecond(live + b.cfg.IdleTTL)
}

// trim deletes publications the history size no longer keeps. History
// hides them already, so trimming is only about storage, and done every
// quarter of the size rather than on every publish. The newest message
// stays whatever the size, since it holds the channel's position.
func (b *Broker) trim(ctx context.Context, ch string, offset uint64, size int) {
	keep := uint64(max(size, 1))
	step := max(keep/4, 1)
	if offset <= keep || offset%step != 0 {
		return
	}
	if err := b.purge(ctx, ch, purgeKeep(keep)); err != nil {
		b.log.Debug("nats: trimming history failed; the next trim retries", "channel", ch, "err", err)
	}
}

// Idempotency keys live in the stream too, one subject per channel and key
// (hashed, since keys may hold any byte), with the key's window as message
// TTL. A key's newest message is either a claim "C <id>", taken before
// publishing, or the outcome "P <epoch> <offset>".
//
// The claim's random id is the publication's deduplication ID, which is
// what makes a keyed publish safe when its node fails half way: another
// publisher that finds the claim publishes under the same id, and
// JetStream stores at most one message with it (within the stream's
// duplicate window), answering the second with the first's sequence.

func (b *Broker) keySubject(ch, key string) string {
	h := sha256.Sum256([]byte(ch + "\x00" + key))
	return b.cfg.Prefix + ".k." + base64.RawURLEncoding.EncodeToString(h[:])
}

func (b *Broker) publishKeyed(ctx context.Context, req *stream.PublishRequest, data []byte) (stream.PublishResult, error) {
	subj := b.keySubject(req.Channel, req.Key)
	ttl := ceilSecond(keyWindow(req.KeyTTL))
	for range maxAttempts {
		k, err := b.get(ctx, getRequest{LastFor: subj})
		found := err == nil
		if err != nil && !errors.Is(err, errNotFound) {
			return stream.PublishResult{}, err
		}
		var claim string
		if found {
			kind, rest, _ := strings.Cut(string(k.data), " ")
			switch kind {
			case "P":
				epoch, off, _ := strings.Cut(rest, " ")
				o, perr := strconv.ParseUint(off, 10, 64)
				last, ok, err := b.last(ctx, req.Channel)
				if err != nil {
					return stream.PublishResult{}, err
				}
				if perr == nil && ok && last.epoch == epoch {
					return stream.PublishResult{Position: stream.Position{Epoch: epoch, Offset: o}, Duplicate: true}, nil
				}
				// The key's publication belongs to an epoch the channel
				// has left: it no longer counts.
			case "C":
				claim = rest
			}
		}
		claimSeq := uint64(0)
		if claim == "" {
			claim = newEpoch() + newEpoch()
			var prev uint64
			if found {
				prev = k.seq
			}
			ack, conflict, err := b.store(ctx, &natsgo.Msg{Subject: subj, Data: []byte("C " + claim)}, prev, jetstream.WithMsgTTL(ttl))
			if err != nil {
				return stream.PublishResult{}, err
			}
			if conflict {
				continue // another publisher of the key came first
			}
			claimSeq = ack.Sequence
		} else {
			claimSeq = k.seq
		}
		res, err := b.appendPub(ctx, req, data, claim)
		if errors.Is(err, errFirstGone) {
			// The claimer stored it and is about to record the outcome,
			// which the next round reads.
			if !backoff.Sleep(ctx, 5*time.Millisecond) {
				return stream.PublishResult{}, ctx.Err()
			}
			continue
		}
		if err != nil {
			return stream.PublishResult{}, err
		}
		outcome := fmt.Sprintf("P %s %d", res.Epoch, res.Offset)
		if _, _, err := b.store(ctx, &natsgo.Msg{Subject: subj, Data: []byte(outcome)}, claimSeq, jetstream.WithMsgTTL(ttl)); err != nil {
			// The claim stays until its TTL; a repeat finds it and is
			// told the same position through the deduplication ID.
			b.log.Debug("nats: recording an idempotency key failed", "channel", req.Channel, "err", err)
		}
		return res, nil
	}
	return stream.PublishResult{}, errContention
}

// keyWindow is how long an idempotency key is remembered when its request
// asked for d.
func keyWindow(d time.Duration) time.Duration {
	if d <= 0 {
		return stream.DefaultKeyTTL
	}
	return d
}

// ceilSecond rounds d up to whole seconds, the granularity of JetStream's
// message TTLs.
func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// millis rounds d up to whole milliseconds, so a positive duration never
// becomes the 0 that means "none".
func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/stream"
)

// Publish runs the publish script: in one atomic step Redis checks the
// idempotency key, assigns the channel's next offset and appends the
// publication to the channel's history. Offsets are gapless under any
// number of publishers on any number of nodes.
//
// A publication is seen — sent live to every subscribed node, returned by
// History, counted in a subscriber's starting position — only once it is
// committed, and it is committed only once it is safe under the replica
// policy. Redis replicates asynchronously: a publication that only the
// primary had is lost if a replica takes over, and the channel's next
// publication is then given the same offset in the same epoch. Had anyone
// seen the lost one, they would drop the new one as a repeat; since nobody
// did, nothing is lost unnoticed. So with Config.MinReplicas replicas to
// wait for (by default one, while the primary has any), the script stores
// the publication hidden, the node WAITs for the replicas, and a second
// script commits it: it raises the channel's committed offset and sends the
// publication live. Publications committed out of order are fine: raising
// the committed offset also reveals every earlier one, which the relay
// fills from history. Without a replica to wait for, the publish script
// commits as it stores, in one round trip.
//
// When the replicas do not confirm within Config.ReplicaTimeout, Publish
// answers stream.ErrUnavailable and the publication stays on the primary,
// hidden: a retry with the same key finds it, waits again and commits it;
// without a retry, the channel's next committed publication reveals it
// (WAIT covers every earlier write, so it is on the replicas by then).
//
// A request whose Key was already used on the channel in its epoch within
// KeyTTL returns the first position with Duplicate set. The first request's
// KeyTTL decides how long the key is remembered. A negative HistorySize
// keeps nothing, like 0; a negative HistoryTTL means no time limit, like 0;
// a negative KeyTTL means stream.DefaultKeyTTL, like 0. As with the memory
// broker, the newest publication's HistoryTTL applies to the whole history.
//
// An error wraps the context's error, stream.ErrUnavailable when Redis
// could not be reached, or stream.ErrInternal for an error reply. After an
// error that is not the context's, the publication may or may not have been
// stored: publishers that retry should send an idempotency key.
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

// publish runs the publish script for req, with data as the publication's
// body.
func (b *Broker) publish(ctx context.Context, req *stream.PublishRequest, data []byte) (stream.PublishResult, error) {
	keys := b.channelKeys(req.Channel)
	if req.Key != "" {
		keys = append(keys, b.tagOpen+req.Channel+keySuffix+req.Key)
	}
	size := max(req.HistorySize, 0)
	historyTTL := millis(req.HistoryTTL)
	keyTTL := millis(keyWindow(req.KeyTTL))
	args := []string{
		newEpoch(),
		b.pubsubName(req.Channel),
		rueidis.BinaryString(data),
		strconv.Itoa(size),
		strconv.FormatInt(historyTTL, 10),
		strconv.FormatInt(keyTTL, 10),
		strconv.FormatInt(b.metaTTL(size, historyTTL, keyTTL), 10),
		b.replicas.scriptMode(),
	}
	reply, err := b.execPublish(ctx, keys, args)
	if err != nil {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w", req.Channel, classify(err))
	}
	if len(reply) != publishReplyLen {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w: script returned %d values", req.Channel, stream.ErrInternal, len(reply))
	}
	epoch, err1 := reply[0].ToString()
	offset, err2 := reply[1].AsInt64()
	dup, err3 := reply[2].AsInt64()
	if err1 != nil || err2 != nil || err3 != nil || offset < 1 {
		return stream.PublishResult{}, fmt.Errorf("publish %q: %w: malformed script reply", req.Channel, stream.ErrInternal)
	}
	return stream.PublishResult{
		Position:  stream.Position{Epoch: epoch, Offset: uint64(offset)},
		Duplicate: dup == 1,
	}, nil
}

// keyWindow is how long an idempotency key is remembered when its request
// asked for d.
func keyWindow(d time.Duration) time.Duration {
	if d <= 0 {
		return stream.DefaultKeyTTL
	}
	return d
}

// metaTTL is how long, in milliseconds, a channel's epoch and offset
// outlive its last publish: as long as anything of the channel may still
// be read (its history, its idempotency keys) and IdleTTL beyond, so a
// client that resumes after its position's publications expired is told
// "not recovered" in the same epoch rather than meeting a new one. A
// history with no time limit lives as long as the channel does, and so the
// meta is kept without expiry (0).
func (b *Broker) metaTTL(size int, historyTTL, keyTTL int64) int64 {
	if size > 0 && historyTTL == 0 {
		return 0
	}
	live := keyTTL
	if size > 0 {
		live = max(live, historyTTL)
	}
	return live + millis(b.idleTTL)
}

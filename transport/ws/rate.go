package ws

import (
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Every frame a client sends — text, binary, continuation, ping, pong,
// close, or garbage — takes one token of the connection's rate limit
// (hub.Config.CommandRate and CommandBurst), so what a client can make the
// node answer is bounded by its rate, not by how fast it can write. A frame
// over the rate is read (within the size limit) but not acted on: a command
// gets a 110 reply, a ping no pong.
//
// Refusals have a budget of their own, with the same rate and burst: a
// client that goes on sending once it is refused (more than twice its rate,
// for longer than its burst) is closed with 3501 instead of making the node
// queue a 110 for every frame.

// bucket is a token bucket. Its zero value is full; it is used by the
// connection's reader only.
type bucket struct {
	tokens  float64
	last    int64 // unix nanoseconds of the last take
	started bool
}

// take takes one token, refilled at rate per second up to burst, and
// reports whether there was one.
func (b *bucket) take(now int64, rate float64, burst int) bool {
	if !b.started {
		b.started, b.tokens, b.last = true, float64(burst), now
	}
	b.tokens += float64(now-b.last) / 1e9 * rate
	b.last = now
	if max := float64(burst); b.tokens > max {
		b.tokens = max
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// admit counts one frame against the rate limit. It reports false for a
// frame over the rate, and a fatal error for a client that keeps flooding
// past its refusals. Before connect there is no session yet: the frames
// count against the connection's own bucket, with the same rate.
func (c *conn) admit() (bool, error) {
	if c.sess != nil {
		if c.sess.Allow() {
			return true, nil
		}
	} else if c.frames.take(time.Now().UnixNano(), c.h.rate, c.h.burst) {
		return true, nil
	}
	if c.refusals.take(time.Now().UnixNano(), c.h.rate, c.h.burst) {
		return false, nil
	}
	return false, protocolError{
		err:   fmt.Errorf("%w: frames keep coming faster than %g a second", stream.ErrBadRequest, c.h.rate),
		fatal: true,
	}
}

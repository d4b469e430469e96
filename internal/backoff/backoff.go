package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff spaces the attempts of one retry loop. The ceiling of the n-th
// wait (counting from 0) is min(Max, Min·2ⁿ); where in [0, ceiling] the wait
// falls is random, so that the many parties one outage dropped together do
// not come back in waves. A Backoff is not safe for concurrent use: each
// loop has its own.
type Backoff struct {
	min, max time.Duration
	// half: every wait keeps half the ceiling (equal jitter), rather
	// than drawing from all of it (full jitter).
	half bool
	n    int
	// rand returns a uniform value in [0, n]; tests replace it.
	rand func(n int64) int64
}

// Full returns a Backoff with "full jitter": every wait is uniform in
// [0, ceiling]. The randomness matters more than the growth: when a node
// restarts, all its clients are dropped in the same instant, and waits drawn
// from the whole range spread their return. The client uses it.
func Full(min, max time.Duration) *Backoff {
	return &Backoff{min: min, max: max, rand: draw}
}

// Equal returns a Backoff with "equal jitter": every wait is uniform in
// [ceiling/2, ceiling]. A broker uses it to reconnect: its nodes still
// spread out, and a failing connection is never retried at once, which
// would spin.
func Equal(min, max time.Duration) *Backoff {
	return &Backoff{min: min, max: max, half: true, rand: draw}
}

func draw(n int64) int64 { return rand.Int64N(n + 1) }

// WithDraw makes b draw its random values from f, which given n returns a
// value in [0, n]; nil keeps the random draw. It is for tests, and returns b.
func (b *Backoff) WithDraw(f func(n int64) int64) *Backoff {
	if f != nil {
		b.rand = f
	}
	return b
}

// Ceiling is the largest wait the next attempt may draw.
func (b *Backoff) Ceiling() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		if d > b.max/2 {
			return b.max // and no overflow, however large max is
		}
		d *= 2
	}
	return min(d, b.max)
}

// Next returns the wait before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	d := b.Ceiling()
	if b.n < 64 {
		b.n++
	}
	if d <= 0 {
		return 0
	}
	if b.half {
		return d/2 + time.Duration(b.rand(int64(d-d/2)))
	}
	return time.Duration(b.rand(int64(d)))
}

// Attempts is how many waits Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.n }

// SetAttempts makes the next wait that of attempt n+1, for a caller that
// keeps the count of failures itself.
func (b *Backoff) SetAttempts(n int) { b.n = min(max(n, 0), 64) }

// Reset starts again from the minimum, after an attempt that succeeded or
// a connection that lasted.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d or until ctx ends, and reports whether the whole wait
// passed. A wait of 0 or less does not wait; it reports whether ctx is
// still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

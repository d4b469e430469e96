package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff spaces reconnection attempts with "full jitter": the n-th wait is
// uniform in [0, min(max, min·2ⁿ)]. The randomness matters more than the
// growth: when a node restarts, all its clients are dropped in the same
// instant, and waits drawn from the whole range spread their return instead
// of sending them back in waves. It is not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	n        int
	// rand returns a uniform value in [0, n]; tests replace it.
	rand func(n int64) int64
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rand: func(n int64) int64 { return rand.Int64N(n + 1) }}
}

// ceiling is the largest wait the next attempt may draw.
func (b *backoff) ceiling() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		if d > b.max/2 {
			return b.max // and no overflow, however large max is
		}
		d *= 2
	}
	return min(d, b.max)
}

// next returns the wait before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	d := b.ceiling()
	if b.n < 64 {
		b.n++
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(b.rand(int64(d)))
}

// reset starts again from min, after a connection that lasted.
func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends, reporting whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
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

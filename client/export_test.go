package client

import "time"

// Backoff exposes the reconnection backoff to the package's tests.
type Backoff struct{ b *backoff }

// NewBackoff returns a backoff whose random draws come from draw (given n,
// it returns a value in [0, n]); nil draws at random.
func NewBackoff(min, max time.Duration, draw func(n int64) int64) Backoff {
	b := newBackoff(min, max)
	if draw != nil {
		b.rand = draw
	}
	return Backoff{b}
}

func (b Backoff) Next() time.Duration    { return b.b.next() }
func (b Backoff) Ceiling() time.Duration { return b.b.ceiling() }
func (b Backoff) Reset()                 { b.b.reset() }

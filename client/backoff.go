package client

import (
	"context"
	"time"

	"github.com/switchboardhq/switchboard/internal/backoff"
)

// newBackoff spaces reconnection and retry attempts with full jitter
// between MinBackoff and MaxBackoff (see [backoff.Full]). It is not safe
// for concurrent use: each retry loop makes its own.
func newBackoff(min, max time.Duration) *retryBackoff {
	return &retryBackoff{backoff.Full(min, max)}
}

// retryBackoff names the calls the client's retry loops make.
type retryBackoff struct{ b *backoff.Backoff }

// next returns the wait before the next attempt and counts the attempt.
func (r *retryBackoff) next() time.Duration { return r.b.Next() }

// setAttempts makes the next wait that of attempt n+1.
func (r *retryBackoff) setAttempts(n int) { r.b.SetAttempts(n) }

// reset starts again from the minimum, after a connection that lasted.
func (r *retryBackoff) reset() { r.b.Reset() }

// sleep waits d or until ctx ends, reporting whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool { return backoff.Sleep(ctx, d) }

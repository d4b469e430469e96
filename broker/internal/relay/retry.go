package relay

import (
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/internal/backoff"
)

// Waits between a broker's attempts to reconnect, resubscribe or repair
// grow from MinBackoff to MaxBackoff, with jitter so that the nodes of a
// cluster do not all knock on a restarted server in the same millisecond.
const (
	MinBackoff = 25 * time.Millisecond
	MaxBackoff = 2 * time.Second
)

// NewBackoff returns the brokers' backoff: equal jitter from MinBackoff to
// MaxBackoff (see [backoff.Equal]).
func NewBackoff() *backoff.Backoff { return backoff.Equal(MinBackoff, MaxBackoff) }

// Retry counts a delivery loop's consecutive failures, logs them, and says
// how long to wait before the next attempt. It is not safe for concurrent
// use.
type Retry struct {
	log      *slog.Logger
	bo       *backoff.Backoff
	failures int
}

// NewRetry returns a Retry that logs to log.
func NewRetry(log *slog.Logger) *Retry { return &Retry{log: log, bo: NewBackoff()} }

// Failed counts a failed attempt and returns the wait before the next. It
// logs msg with err and the attempt's number: the first failure of a run
// at Warn and the rest at Debug, so that an outage makes one warning, not
// one a second. An empty msg logs nothing, for a failure already logged.
func (r *Retry) Failed(msg string, err error) time.Duration {
	r.failures++
	d := r.bo.Next()
	if msg == "" {
		return d
	}
	log := r.log.Debug
	if r.failures == 1 {
		log = r.log.Warn
	}
	log(msg, "attempt", r.failures, "err", err)
	return d
}

// Failures is how many attempts failed since the last Reset.
func (r *Retry) Failures() int { return r.failures }

// Reset starts a new run after an attempt that succeeded.
func (r *Retry) Reset() {
	r.failures = 0
	r.bo.Reset()
}

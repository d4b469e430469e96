package redis

import (
	"context"
	"time"
)

const (
	// probeInterval is how often Run asks Redis for an answer while it
	// delivers, and probeTimeout how long an answer may take. A Redis that
	// hangs (stopped, swapping, stuck in a script) keeps its connections
	// open, so only an unanswered request shows it: Healthy turns false
	// within about probeInterval+probeTimeout, and true again at the
	// first answer after it.
	probeInterval = time.Second
	probeTimeout  = time.Second
)

// probe PINGs Redis every probeInterval until ctx ends, recording in
// b.answering whether it answered within probeTimeout, and logging each
// change once.
func (b *Broker) probe(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := b.client.Do(pctx, b.client.B().Ping().Build()).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		ok := err == nil
		if was := b.answering.Swap(ok); was != ok {
			if ok {
				b.log.Info("redis: answering again; ready")
			} else {
				b.log.Warn("redis: no answer to PING; not ready until it answers", "timeout", probeTimeout, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

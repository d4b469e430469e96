package nats

import (
	"context"
	"time"
)

const (
	// probeInterval is how often Run asks JetStream for the stream's
	// state while it delivers, and probeTimeout how long an answer may
	// take. A server that hangs, or a stream that lost its leader, keeps
	// the connection open, so only an unanswered request shows it: Healthy
	// turns false within about probeInterval+probeTimeout, and true again
	// at the first answer after it.
	probeInterval = time.Second
	probeTimeout  = time.Second
)

// probe asks for the stream's information every probeInterval until ctx
// ends — a request its leader answers — recording in b.answering whether
// it came within probeTimeout, and logging each change once.
func (b *Broker) probe(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := b.js.Stream(pctx, b.cfg.Stream)
		cancel()
		if ctx.Err() != nil {
			return
		}
		ok := err == nil
		if was := b.answering.Swap(ok); was != ok {
			if ok {
				b.log.Info("nats: JetStream answering again; ready", "stream", b.cfg.Stream)
			} else {
				b.log.Warn("nats: JetStream does not answer; not ready until it does", "stream", b.cfg.Stream, "timeout", probeTimeout, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

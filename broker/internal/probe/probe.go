package probe

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

const (
	// Interval is how often a Probe asks, and Timeout how long an answer
	// may take: a broker is seen as not answering within about
	// Interval+Timeout of hanging, and as answering again at its first
	// answer after that.
	Interval = time.Second
	Timeout  = time.Second
)

// Probe asks a broker for an answer while Run runs. Answering is safe for
// concurrent use; Run is called by one goroutine at a time.
type Probe struct {
	// Ask makes one request of the broker and reports its error. It must
	// return when ctx ends.
	Ask func(ctx context.Context) error
	// What names what is asked, for the logs ("redis: PING").
	What string
	// Logger receives one line for each change between answering and
	// not answering.
	Logger *slog.Logger

	silent atomic.Bool
}

// Answering reports whether the broker answered the last request in time.
// It is true until a request goes unanswered, so a broker is taken as
// answering from the start of Run.
func (p *Probe) Answering() bool { return !p.silent.Load() }

// Run asks every Interval until ctx ends.
func (p *Probe) Run(ctx context.Context) {
	p.silent.Store(false)
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, Timeout)
		err := p.Ask(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		silent := err != nil
		if was := p.silent.Swap(silent); was != silent {
			if silent {
				p.Logger.Warn(p.What+": no answer; not ready until it answers", "timeout", Timeout, "err", err)
			} else {
				p.Logger.Info(p.What + ": answering again; ready")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start runs the probe in a goroutine of its own until the returned stop
// is called; stop waits for it to end.
func (p *Probe) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

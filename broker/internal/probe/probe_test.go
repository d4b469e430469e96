package probe_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboardhq/switchboard/broker/internal/probe"
)

// A broker that stops answering is seen as silent within Interval+Timeout,
// and as answering again at its first answer.
func TestProbeFollowsAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hang atomic.Bool
		p := &probe.Probe{What: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ask: func(ctx context.Context) error {
				if hang.Load() {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}}
		stop := p.Start(t.Context())
		defer stop()
		synctest.Wait()
		if !p.Answering() {
			t.Fatal("not answering while the broker answers")
		}
		hang.Store(true)
		time.Sleep(probe.Interval + probe.Timeout + time.Millisecond)
		synctest.Wait()
		if p.Answering() {
			t.Fatal("answering while every request goes unanswered")
		}
		hang.Store(false)
		time.Sleep(probe.Interval + time.Millisecond)
		synctest.Wait()
		if !p.Answering() {
			t.Fatal("still silent after the broker answered again")
		}
	})
}

// An error is no answer, as a timeout is.
func TestProbeErrorIsSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &probe.Probe{What: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ask: func(context.Context) error { return errors.New("refused") }}
		stop := p.Start(t.Context())
		synctest.Wait()
		if p.Answering() {
			t.Fatal("answering although every request fails")
		}
		stop()
	})
}

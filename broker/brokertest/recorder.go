package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// Recorder is a deliver func for [hub.Broker.Run]: it keeps every
// publication per channel and checks, as they arrive, the promises every
// broker makes about delivery: one call at a time per channel, offsets
// strictly increasing within an epoch. What it finds is reported when the
// test that [Start]ed the broker ends. Its zero value is ready; it is safe
// for concurrent use.
type Recorder struct {
	// oneEpoch makes a change of epoch on a channel a broken promise too:
	// nothing in the suite loses a channel's data.
	oneEpoch bool

	mu       sync.Mutex
	got      map[string][]*stream.Publication
	inFlight map[string]bool
	problems []string
}

// maxProblems caps what one test reports: a broken broker breaks the same
// promise thousands of times.
const maxProblems = 20

// Deliver records p.
func (r *Recorder) Deliver(p *stream.Publication) {
	r.mu.Lock()
	if p == nil {
		r.problem("deliver was called with a nil publication")
		r.mu.Unlock()
		return
	}
	if r.got == nil {
		r.got = make(map[string][]*stream.Publication)
		r.inFlight = make(map[string]bool)
	}
	if r.inFlight[p.Channel] {
		r.problem("deliver called for %q offset %d while another delivery of that channel was running", p.Channel, p.Offset)
	}
	r.inFlight[p.Channel] = true
	if prev := r.got[p.Channel]; len(prev) > 0 {
		last := prev[len(prev)-1]
		switch {
		case p.Epoch != last.Epoch:
			if r.oneEpoch {
				r.problem("%q delivered epoch %q after epoch %q", p.Channel, p.Epoch, last.Epoch)
			}
		case p.Offset <= last.Offset:
			r.problem("%q delivered offset %d after offset %d", p.Channel, p.Offset, last.Offset)
		}
	}
	r.got[p.Channel] = append(r.got[p.Channel], p)
	r.mu.Unlock()

	// Give a broker that delivers one channel from two goroutines the chance
	// to be caught with both inside deliver.
	runtime.Gosched()

	r.mu.Lock()
	delete(r.inFlight, p.Channel)
	r.mu.Unlock()
}

// problem records a broken promise; r.mu must be held.
func (r *Recorder) problem(format string, args ...any) {
	if len(r.problems) < maxProblems {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// Get returns a copy of what was delivered on ch so far.
func (r *Recorder) Get(ch string) []*stream.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*stream.Publication(nil), r.got[ch]...)
}

// Report fails t for every broken promise recorded so far.
func (r *Recorder) Report(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Errorf("delivery: %s", p)
	}
}

// Start runs b until the test ends, recording what it delivers, and
// returns once b delivers: the interface has no readiness signal, and a
// publication stored before Run is ready may legitimately not be
// delivered. At cleanup it stops Run, fails t unless Run returns nil within
// [waitTimeout], and reports what the Recorder found.
//
// Start waits by subscribing to a probe channel of its own and publishing
// to it, without history, until one arrives; it then unsubscribes, so the
// probe leaves only what an idle channel leaves.
func Start(t testing.TB, b hub.Broker) *Recorder {
	t.Helper()
	return start(t, b, &Recorder{}, func(err error) bool { return err == nil })
}

// start is [Start] with the Recorder to deliver to and what Run may return
// once its context ended.
func start(t testing.TB, b hub.Broker, rec *Recorder, returned func(error) bool) *Recorder {
	t.Helper()
	// Cleanups run last first: this one after Run has returned.
	t.Cleanup(func() { rec.Report(t) })
	ctx, stopped, runErr := run(t, b, rec.Deliver, returned)

	probe := "brokertest:probe." + random()
	if err := b.Subscribe(ctx, probe); err != nil {
		t.Fatalf("Subscribe(%q): %v", probe, err)
	}
	testkit.EventuallyWithin(t, waitTimeout, "the broker to deliver after Run started", func() bool {
		select {
		case <-stopped:
			t.Fatalf("Run returned before its context ended: %v", *runErr)
		default:
		}
		if _, err := b.Publish(ctx, stream.PublishRequest{Channel: probe, Data: []byte(`"probe"`)}); err != nil {
			t.Fatalf("Publish(%q): %v", probe, err)
		}
		return len(rec.Get(probe)) > 0
	})
	if err := b.Unsubscribe(ctx, probe); err != nil {
		t.Fatalf("Unsubscribe(%q): %v", probe, err)
	}
	return rec
}

// run runs b with deliver until the test ends; at cleanup it stops Run and
// fails t unless Run returns what returned accepts within [waitTimeout].
// It returns Run's context, a channel closed once Run returned, and, after
// that, what Run returned.
func run(t testing.TB, b hub.Broker, deliver func(*stream.Publication), returned func(error) bool) (context.Context, <-chan struct{}, *error) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = b.Run(ctx, deliver)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
			if !returned(runErr) {
				t.Errorf("Run returned %v once its context ended", runErr)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return within %v of its context ending", waitTimeout)
		}
	})
	return ctx, stopped, &runErr
}

// returnedOrCancelled is what the suite accepts from Run once its context
// ended: the interface does not say which of the two a broker returns.
func returnedOrCancelled(err error) bool {
	return err == nil || errors.Is(err, context.Canceled)
}

// random is 8 characters no other test or run uses.
func random() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return base64.RawURLEncoding.EncodeToString(r[:])
}

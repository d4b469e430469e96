package testkit

import (
	"errors"
	"time"
)

// Wait bounds every wait for an event in the tests that use this package: a
// passing test never comes near it, a failing one fails within it rather than
// at the test binary's timeout.
const Wait = 10 * time.Second

// TB is the part of [testing.TB] the waits use: every *testing.T is one,
// and so is the narrower test interface of a helper package such as
// [github.com/switchboardhq/switchboard/internal/testenv].
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// maxTick is the longest pause between two checks of a condition. Checks
// start a millisecond apart and back off to it, so a state reached quickly is
// seen quickly and a condition that costs a network round trip is not asked
// in a tight loop.
const maxTick = 50 * time.Millisecond

// Eventually checks cond until it reports true, and fails t, naming what it
// waited for, if that has not happened within [Wait]. It is how a test waits
// for a state that announces itself with no event (a session gone from the
// hub, a count reached), instead of sleeping.
//
// cond runs on the calling goroutine, so it may use t.
func Eventually(t TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Wait, what, cond)
}

// EventuallyWithin is [Eventually] with its own deadline, for a wait that
// includes a delay the test chose or cannot shorten: a presence TTL, a
// broker's reconnect, a node's start.
func EventuallyWithin(t TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyNil(t, d, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// errNotYet is a condition of [EventuallyWithin] that does not hold: it has
// no more to say.
var errNotYet = errors.New("not yet")

// EventuallyNil is [EventuallyWithin] for a condition that can say how
// things stand: it checks until check returns nil, and a failure ends with
// what check returned last (a readiness check's error, the states seen so
// far), which is what the person reading it needs.
//
// check runs on the calling goroutine, so it may use t.
func EventuallyNil(t TB, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		pause := time.NewTimer(tick)
		select {
		case <-pause.C:
		case <-deadline.C:
			pause.Stop()
			if err == errNotYet {
				t.Fatalf("timed out after %v waiting for %s", d, what)
			} else {
				t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
			}
			return
		}
		tick = min(2*tick, maxTick)
	}
}

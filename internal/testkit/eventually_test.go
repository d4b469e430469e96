package testkit_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// recorder is a testing.TB whose Fatalf is recorded, so a test can check
// that a helper fails when it should.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls f on a goroutine of its own, which a Fatal ends as it ends a
// test's.
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func TestEventually(t *testing.T) {
	calls := 0
	testkit.Eventually(t, "the fifth call", func() bool { calls++; return calls == 5 })
	if calls != 5 {
		t.Fatalf("cond called %d times", calls)
	}
}

func TestEventuallyTimesOut(t *testing.T) {
	r := &recorder{TB: t}
	returned := false
	r.run(func() {
		testkit.EventuallyWithin(r, 20*time.Millisecond, "a state that never comes", func() bool { return false })
		returned = true
	})
	if returned || !strings.Contains(r.fatal, "waiting for a state that never comes") || !strings.Contains(r.fatal, "20ms") {
		t.Fatalf("returned %v, failed with %q", returned, r.fatal)
	}
}

func TestEventuallyNil(t *testing.T) {
	calls := 0
	testkit.EventuallyNil(t, testkit.Wait, "the third call", func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("check called %d times", calls)
	}
}

// TestEventuallyNilSaysWhy: the failure ends with the last error.
func TestEventuallyNilSaysWhy(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	r.run(func() {
		testkit.EventuallyNil(r, 20*time.Millisecond, "a ready node", func() error {
			calls++
			return fmt.Errorf("unready after %d checks", calls)
		})
	})
	if want := fmt.Sprintf("waiting for a ready node: unready after %d checks", calls); !strings.Contains(r.fatal, want) {
		t.Fatalf("failed with %q, want %q", r.fatal, want)
	}
}

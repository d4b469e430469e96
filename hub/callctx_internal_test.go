package hub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// A callCtx made lazily must end as the contexts it stands for would: with
// its parent, with the session (cause stream.ErrClosed), at its deadline,
// and on release, whether or not anything waited on it before.
func TestCallCtxEndsLikeItsContexts(t *testing.T) {
	type key struct{}
	for _, waited := range []bool{false, true} {
		name := "err only"
		if waited {
			name = "waited on"
		}
		t.Run(name, func(t *testing.T) {
			check := func(t *testing.T, c *callCtx, want, cause error) {
				t.Helper()
				if waited {
					testkit.Eventually(t, "Done closed", func() bool { return isClosed(c.Done()) })
					if got := context.Cause(c); !errors.Is(got, cause) {
						t.Errorf("Cause = %v, want %v", got, cause)
					}
				}
				if err := c.Err(); !errors.Is(err, want) {
					t.Errorf("Err = %v, want %v", err, want)
				}
			}
			start := func(c *callCtx) *callCtx {
				if waited {
					_ = c.Done()
				}
				return c
			}

			parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
			end, stopEnd := context.WithCancel(context.Background())
			c := start(&callCtx{parent: parent, end: end, deadline: time.Now().Add(time.Hour)})
			if err := c.Err(); err != nil {
				t.Fatalf("Err before anything ended = %v", err)
			}
			if v := c.Value(key{}); v != "v" {
				t.Errorf("Value = %v, want the parent's", v)
			}
			if d, ok := c.Deadline(); !ok || time.Until(d) < 59*time.Minute {
				t.Errorf("Deadline = %v, %v; want in an hour", d, ok)
			}
			stopEnd()
			check(t, c, context.Canceled, stream.ErrClosed)
			c.release()

			c = start(&callCtx{parent: parent, deadline: time.Now().Add(-time.Millisecond)})
			check(t, c, context.DeadlineExceeded, context.DeadlineExceeded)
			c.release()

			c = start(&callCtx{parent: parent, end: context.Background()})
			cancelParent()
			check(t, c, context.Canceled, context.Canceled)
			c.release()

			c = start(&callCtx{parent: context.Background(), end: context.Background()})
			c.release()
			check(t, c, context.Canceled, context.Canceled)
			if !waited && !isClosed(c.Done()) {
				t.Error("Done after release is not closed")
			}
		})
	}
}

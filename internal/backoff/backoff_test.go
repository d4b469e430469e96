package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/backoff"
)

var draws = []struct {
	name string
	f    func(n int64) int64
}{
	{"lowest", func(int64) int64 { return 0 }},
	{"highest", func(n int64) int64 { return n }},
	{"random", nil},
}

// TestFullBounds checks full jitter: the n-th wait is within
// [0, min(max, min·2ⁿ)], whatever the random draw, up to attempts far past
// where min·2ⁿ overflows.
func TestFullBounds(t *testing.T) {
	const lo, hi = 500 * time.Millisecond, 20 * time.Second
	for _, draw := range draws {
		t.Run(draw.name, func(t *testing.T) {
			b := backoff.Full(lo, hi).WithDraw(draw.f)
			for n := range 200 {
				ceiling := hi
				if n < 6 {
					ceiling = min(hi, lo<<n)
				}
				if got := b.Ceiling(); got != ceiling {
					t.Fatalf("attempt %d: ceiling %s, want %s", n, got, ceiling)
				}
				d := b.Next()
				if d < 0 || d > ceiling {
					t.Fatalf("attempt %d: wait %s outside [0, %s]", n, d, ceiling)
				}
				if draw.f != nil && n < 6 && d != time.Duration(draw.f(int64(ceiling))) {
					t.Fatalf("attempt %d: wait %s, want the draw %s", n, d, time.Duration(draw.f(int64(ceiling))))
				}
			}
		})
	}
}

// TestEqualBounds checks equal jitter, which the brokers reconnect with:
// the n-th wait is within [ceiling/2, ceiling], so a failing connection is
// never retried at once.
func TestEqualBounds(t *testing.T) {
	const lo, hi = 25 * time.Millisecond, 2 * time.Second
	for _, draw := range draws {
		t.Run(draw.name, func(t *testing.T) {
			b := backoff.Equal(lo, hi).WithDraw(draw.f)
			for n := range 200 {
				ceiling := hi
				if n < 7 {
					ceiling = min(hi, lo<<n)
				}
				d := b.Next()
				if d < ceiling/2 || d > ceiling {
					t.Fatalf("attempt %d: wait %s outside [%s, %s]", n, d, ceiling/2, ceiling)
				}
				switch draw.name {
				case "lowest":
					if d != ceiling/2 {
						t.Fatalf("attempt %d: lowest draw waits %s, want %s", n, d, ceiling/2)
					}
				case "highest":
					if d != ceiling {
						t.Fatalf("attempt %d: highest draw waits %s, want %s", n, d, ceiling)
					}
				}
			}
			if got := b.Attempts(); got != 64 {
				t.Errorf("Attempts after 200 waits = %d, want it capped at 64", got)
			}
		})
	}
}

func TestReset(t *testing.T) {
	b := backoff.Full(100*time.Millisecond, time.Second).WithDraw(func(n int64) int64 { return n })
	for range 10 {
		b.Next()
	}
	if got := b.Ceiling(); got != time.Second {
		t.Fatalf("ceiling after 10 attempts %s, want the max", got)
	}
	b.Reset()
	if got := b.Attempts(); got != 0 {
		t.Errorf("Attempts after Reset = %d", got)
	}
	if got := b.Next(); got != 100*time.Millisecond {
		t.Errorf("first wait after Reset %s, want the min", got)
	}
	if got := b.Next(); got != 200*time.Millisecond {
		t.Errorf("second wait after Reset %s, want twice the min", got)
	}
}

// TestSpreads checks the jitter is real: many draws of one attempt cover
// the range instead of bunching at its top.
func TestSpreads(t *testing.T) {
	const ceiling = time.Second
	var low, high int
	for range 1000 {
		b := backoff.Full(ceiling, ceiling)
		switch d := b.Next(); {
		case d < ceiling/4:
			low++
		case d > ceiling*3/4:
			high++
		}
	}
	if low < 150 || high < 150 {
		t.Errorf("of 1000 waits, %d in the lowest quarter and %d in the highest; want about 250 each", low, high)
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !backoff.Sleep(ctx, 0) {
		t.Error("Sleep(0) on a live context reported false")
	}
	if !backoff.Sleep(ctx, time.Millisecond) {
		t.Error("Sleep(1ms) on a live context reported false")
	}
	cancel()
	if backoff.Sleep(ctx, 0) {
		t.Error("Sleep(0) on an ended context reported true")
	}
	if backoff.Sleep(ctx, time.Hour) {
		t.Error("Sleep(1h) on an ended context reported true")
	}
}

func TestSetAttempts(t *testing.T) {
	b := backoff.Full(100*time.Millisecond, time.Second).WithDraw(func(n int64) int64 { return n })
	b.SetAttempts(2)
	if got := b.Next(); got != 400*time.Millisecond {
		t.Errorf("wait after SetAttempts(2) %s, want the third attempt's 400ms", got)
	}
	b.SetAttempts(-1)
	if got := b.Next(); got != 100*time.Millisecond {
		t.Errorf("wait after SetAttempts(-1) %s, want the min", got)
	}
}

package client_test

import (
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
)

// TestBackoffBounds checks full jitter: the n-th wait is within
// [0, min(max, min·2ⁿ)], whatever the random draw, up to attempts far past
// where min·2ⁿ overflows.
func TestBackoffBounds(t *testing.T) {
	const lo, hi = 500 * time.Millisecond, 20 * time.Second
	for _, draw := range []struct {
		name string
		f    func(n int64) int64
	}{
		{"lowest", func(int64) int64 { return 0 }},
		{"highest", func(n int64) int64 { return n }},
		{"random", nil},
	} {
		t.Run(draw.name, func(t *testing.T) {
			b := client.NewBackoff(lo, hi, draw.f)
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

func TestBackoffReset(t *testing.T) {
	b := client.NewBackoff(100*time.Millisecond, time.Second, func(n int64) int64 { return n })
	for range 10 {
		b.Next()
	}
	if got := b.Ceiling(); got != time.Second {
		t.Fatalf("ceiling after 10 attempts %s, want the max", got)
	}
	b.Reset()
	if got := b.Next(); got != 100*time.Millisecond {
		t.Errorf("first wait after Reset %s, want the min", got)
	}
	if got := b.Next(); got != 200*time.Millisecond {
		t.Errorf("second wait after Reset %s, want twice the min", got)
	}
}

// TestBackoffSpreads checks the jitter is real: many draws of one attempt
// cover the range instead of bunching at its top.
func TestBackoffSpreads(t *testing.T) {
	const ceiling = time.Second
	var low, high int
	for range 1000 {
		b := client.NewBackoff(ceiling, ceiling, nil)
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

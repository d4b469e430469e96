package ratelimit_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/ratelimit"
)

func TestLimiter(t *testing.T) {
	l := ratelimit.New(10, 3, 0)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %s, want 100ms", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key shares the first one's budget")
	}
	if ok, _ := l.Allow("a", now.Add(100*time.Millisecond)); !ok {
		t.Fatal("no refill after 1/rate")
	}
	if ok, _ := l.Allow("a", now.Add(100*time.Millisecond)); ok {
		t.Fatal("refilled more than one request in 1/rate")
	}
}

// TestLimiterTable: however many keys come, the table holds at most its
// bound, and the keys forgotten are the ones used least recently.
func TestLimiterTable(t *testing.T) {
	l := ratelimit.New(1, 1, 100)
	now := time.Unix(1000, 0)
	l.Allow("busy", now) // its one request
	for i := range 10_000 {
		l.Allow(strings.Repeat("k", 1000)+strconv.Itoa(i), now)
		if i%50 == 0 {
			// Still over its budget: a busy client is not forgotten.
			if ok, _ := l.Allow("busy", now); ok {
				t.Fatalf("after %d other keys, a busy key was forgotten", i)
			}
		}
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("table holds %d keys, bound 100", n)
	}
}

package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Request is a publish request to ch with history generous enough for any
// test, and a TTL so that shared storage cleans up after the tests.
func Request(ch, data string) stream.PublishRequest {
	return stream.PublishRequest{
		Channel:     ch,
		Data:        json.RawMessage(data),
		HistorySize: 10000,
		HistoryTTL:  time.Hour,
	}
}

// Offsets returns the offsets of pubs, in their order; nil for none.
func Offsets(pubs []*stream.Publication) []uint64 {
	var out []uint64
	for _, p := range pubs {
		out = append(out, p.Offset)
	}
	return out
}

// Span returns the offsets from..to, counting down when from > to.
func Span(from, to uint64) []uint64 {
	var out []uint64
	for o := from; ; {
		out = append(out, o)
		switch {
		case o == to:
			return out
		case o < to:
			o++
		default:
			o--
		}
	}
}

// CheckSequence fails t unless pubs are exactly the offsets want, in that
// order, all in one epoch: what a subscriber or a history read must see of
// a channel whose data nothing lost.
func CheckSequence(t testing.TB, what string, pubs []*stream.Publication, want []uint64) {
	t.Helper()
	if got := Offsets(pubs); !slices.Equal(got, want) {
		t.Fatalf("%s: %d publications %s; want %d, %s", what, len(got), summary(got), len(want), summary(want))
	}
	for _, p := range pubs {
		if p.Epoch != pubs[0].Epoch {
			t.Fatalf("%s: offset %d in epoch %q, the first in %q", what, p.Offset, p.Epoch, pubs[0].Epoch)
		}
	}
}

// summary shows a long list of offsets by its runs: "1-40 42-90".
func summary(o []uint64) string {
	if len(o) == 0 {
		return "[]"
	}
	s, start := "", o[0]
	for i := 1; i <= len(o); i++ {
		if i < len(o) && o[i] == o[i-1]+1 {
			continue
		}
		if s != "" {
			s += " "
		}
		if start == o[i-1] {
			s += fmt.Sprint(start)
		} else {
			s += fmt.Sprintf("%d-%d", start, o[i-1])
		}
		if i < len(o) {
			start = o[i]
		}
	}
	return s
}

// Connect calls connect with a deadline of [waitTimeout] and closes the
// broker it returns when the test ends: how a test makes a broker on a
// server.
func Connect[B interface{ Close() }](t testing.TB, connect func(context.Context) (B, error)) B {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b, err := connect(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// Logger sends a broker's log to t's log, where it shows with -v or when
// the test fails.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

package nats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

// The benchmarks measure round trips to an embedded NATS server over
// loopback, in the same process: their times are mostly the server's and
// the kernel's, and allocs/op counts the server's allocations too. Compare
// runs with benchstat.

func benchRequest(ch string) stream.PublishRequest {
	return stream.PublishRequest{
		Channel:     ch,
		Data:        json.RawMessage(`{"text":"hello, world","n":42}`),
		HistorySize: stream.DefaultHistorySize,
		HistoryTTL:  stream.DefaultHistoryTTL,
	}
}

func benchBroker(b *testing.B) *nats.Broker {
	b.Helper()
	return newBroker(b, testenv.NATS(b), nats.Config{Logger: slog.New(slog.DiscardHandler)})
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	b.Run("one-channel", func(b *testing.B) {
		br := benchBroker(b)
		req := benchRequest("bench:c")
		for b.Loop() {
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyed", func(b *testing.B) {
		br := benchBroker(b)
		req := benchRequest("bench:k")
		i := 0
		for b.Loop() {
			req.Key = fmt.Sprint(i)
			i++
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHistory reads the last n publications after a position, as a
// resuming client does.
func BenchmarkHistory(b *testing.B) {
	ctx := context.Background()
	br := benchBroker(b)
	const ch = "bench:h"
	for range 200 {
		if _, err := br.Publish(ctx, benchRequest(ch)); err != nil {
			b.Fatal(err)
		}
	}
	latest, err := br.History(ctx, ch, stream.HistoryQuery{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []uint64{0, 10, 100} {
		b.Run(fmt.Sprintf("last-%d", n), func(b *testing.B) {
			since := stream.Position{Epoch: latest.Latest.Epoch, Offset: latest.Latest.Offset - n}
			for b.Loop() {
				page, err := br.History(ctx, ch, stream.HistoryQuery{Since: &since, Limit: -1})
				if err != nil || len(page.Publications) != int(n) {
					b.Fatalf("%d publications, %v", len(page.Publications), err)
				}
			}
		})
	}
}

package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

// The benchmarks measure a round trip to a redis-server on loopback, so
// their times are mostly Redis's and the kernel's; allocs/op is the
// broker's own cost. Compare runs with benchstat.

// benchRequest is what a typical namespace sends: default history settings
// and a small JSON payload.
func benchRequest(ch string) stream.PublishRequest {
	return stream.PublishRequest{
		Channel:     ch,
		Data:        json.RawMessage(`{"text":"hello, world","n":42}`),
		HistorySize: stream.DefaultHistorySize,
		HistoryTTL:  stream.DefaultHistoryTTL,
	}
}

// benchBroker is a broker on a Redis of the benchmark's own, logging only
// errors.
func benchBroker(b *testing.B) *redis.Broker {
	b.Helper()
	srv := testenv.Redis(b)
	return newBroker(b, srv, redis.Config{Logger: slog.New(slog.DiscardHandler)})
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	b.Run("unsubscribed", func(b *testing.B) {
		br := benchBroker(b)
		req := benchRequest("bench:c")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("subscribed", func(b *testing.B) {
		br := benchBroker(b)
		var delivered atomic.Int64
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- br.Run(runCtx, func(*stream.Publication) { delivered.Add(1) }) }()
		defer func() {
			cancel()
			<-done
		}()
		if err := br.Subscribe(ctx, "bench:c"); err != nil {
			b.Fatal(err)
		}
		req := benchRequest("bench:c")
		b.ReportAllocs()
		var n int64
		for b.Loop() {
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
			n++
		}
		// The delivery side's cost belongs in the measurement too.
		eventually(b, "every delivery", func() bool { return delivered.Load() >= n })
	})
	b.Run("keyed", func(b *testing.B) {
		br := benchBroker(b)
		req := benchRequest("bench:c")
		req.KeyTTL = time.Minute
		keys := make([]string, 1<<16)
		for i := range keys {
			keys[i] = fmt.Sprintf("key-%d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			req.Key = keys[i%len(keys)]
			i++
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Publishers on one node share its connection, which rueidis pipelines:
	// this is the throughput one node gets from one Redis.
	b.Run("parallel", func(b *testing.B) {
		br := benchBroker(b)
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := benchRequest(fmt.Sprintf("bench:c%d", n.Add(1)))
			for pb.Next() {
				if _, err := br.Publish(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkHistory(b *testing.B) {
	ctx := context.Background()
	br := benchBroker(b)
	req := benchRequest("bench:c")
	var latest stream.Position
	for range stream.DefaultHistorySize {
		res, err := br.Publish(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		latest = res.Position
	}
	recent := stream.Position{Epoch: latest.Epoch, Offset: latest.Offset - 10}
	for _, c := range []struct {
		name string
		q    stream.HistoryQuery
	}{
		{"position-only", stream.HistoryQuery{}},                      // a subscribe without recovery
		{"resume-10", stream.HistoryQuery{Since: &recent, Limit: -1}}, // a reconnect
		{"last-100", stream.HistoryQuery{Limit: 100, Reverse: true}},
		{"all-1000", stream.HistoryQuery{Limit: -1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := br.History(ctx, "bench:c", c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

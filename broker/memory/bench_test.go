package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/stream"
)

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

func BenchmarkPublish(b *testing.B) {
	b.Run("unsubscribed", func(b *testing.B) {
		br := memory.New(memory.Config{})
		req := benchRequest("bench:c")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("subscribed", func(b *testing.B) {
		br := memory.New(memory.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		var delivered atomic.Int64
		done := make(chan error, 1)
		go func() { done <- br.Run(ctx, func(*stream.Publication) { delivered.Add(1) }) }()
		defer func() {
			cancel()
			<-done
		}()
		if err := br.Subscribe(ctx, "bench:c"); err != nil {
			b.Fatal(err)
		}
		req := benchRequest("bench:c")
		for delivered.Load() == 0 { // until Run has stored deliver
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyed", func(b *testing.B) {
		br := memory.New(memory.Config{})
		req := benchRequest("bench:c")
		keys := make([]string, 1<<16)
		for i := range keys {
			keys[i] = fmt.Sprintf("key-%d", i)
		}
		ctx := context.Background()
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
}

// BenchmarkPublishParallel shows whether publishers contend: on one channel
// they must serialise; on distinct channels they should not.
func BenchmarkPublishParallel(b *testing.B) {
	b.Run("one-channel", func(b *testing.B) {
		br := memory.New(memory.Config{})
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := benchRequest("bench:c")
			for pb.Next() {
				if _, err := br.Publish(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("channel-each", func(b *testing.B) {
		br := memory.New(memory.Config{})
		ctx := context.Background()
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
	br := memory.New(memory.Config{})
	ctx := context.Background()
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

// BenchmarkChannels measures the cost of a channel the broker has to remember.
func BenchmarkChannels(b *testing.B) {
	br := memory.New(memory.Config{})
	ctx := context.Background()
	names := make([]string, 1<<20)
	for i := range names {
		names[i] = fmt.Sprintf("bench:c%d", i)
	}
	req := benchRequest("")
	req.HistoryTTL = time.Hour
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Channel = names[i%len(names)]
		i++
		if _, err := br.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

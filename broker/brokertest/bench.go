package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// The benchmarks every broker runs, through the hub.Broker interface, each
// from a Benchmark function of the same name beside the broker:
//
//	func BenchmarkPublish(b *testing.B) { brokertest.BenchPublish(b, newBenchBroker) }
//
// newBroker returns a broker of the benchmark's own, with nothing stored,
// that newBroker closes at cleanup. For a broker on a server, times are
// mostly the server's and the kernel's; compare runs with benchstat.

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

// benchPublish publishes r, failing b on an error.
func benchPublish(b *testing.B, br hub.Broker, r stream.PublishRequest) stream.PublishResult {
	res, err := br.Publish(context.Background(), r)
	if err != nil {
		b.Fatalf("Publish(%q): %v", r.Channel, err)
	}
	return res
}

// BenchPublish measures one publisher on one channel: with no subscriber,
// with this node subscribed (the delivery side's cost included), and with
// an idempotency key on each publication.
func BenchPublish(b *testing.B, newBroker func(b *testing.B) hub.Broker) {
	b.Run("unsubscribed", func(b *testing.B) {
		br := newBroker(b)
		req := benchRequest("bench:c")
		b.ReportAllocs()
		for b.Loop() {
			benchPublish(b, br, req)
		}
	})
	b.Run("subscribed", func(b *testing.B) {
		br := newBroker(b)
		var delivered atomic.Int64
		ctx, _, _ := run(b, br, func(*stream.Publication) { delivered.Add(1) }, func(err error) bool { return err == nil })
		if err := br.Subscribe(ctx, "bench:c"); err != nil {
			b.Fatal(err)
		}
		req := benchRequest("bench:c")
		testkit.Eventually(b, "Run to deliver", func() bool {
			benchPublish(b, br, req)
			return delivered.Load() > 0
		})
		want := delivered.Load()
		b.ReportAllocs()
		for b.Loop() {
			benchPublish(b, br, req)
			want++
		}
		// The delivery side's cost belongs in the measurement too; b.Loop
		// stopped the timer.
		b.StartTimer()
		testkit.Eventually(b, "every delivery", func() bool { return delivered.Load() >= want })
		b.StopTimer()
	})
	b.Run("keyed", func(b *testing.B) {
		req := benchRequest("bench:c")
		req.KeyTTL = time.Minute
		benchPublishEach(b, newBroker(b), req, names("key-%d", 1<<16), func(r *stream.PublishRequest, key string) { r.Key = key })
	})
}

// BenchPublishParallel shows whether publishers contend: on one channel
// they must serialise; on distinct channels they should not. Publishers on
// one node share its connection to a server, so channel-each is the
// throughput one node gets from it.
func BenchPublishParallel(b *testing.B, newBroker func(b *testing.B) hub.Broker) {
	for _, c := range []struct {
		name    string
		channel func(n int64) string
	}{
		{"one-channel", func(int64) string { return "bench:c" }},
		{"channel-each", func(n int64) string { return fmt.Sprintf("bench:c%d", n) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			br := newBroker(b)
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := benchRequest(c.channel(n.Add(1)))
				for pb.Next() {
					if _, err := br.Publish(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchHistory reads a channel holding a full default history the ways the
// hub does.
func BenchHistory(b *testing.B, newBroker func(b *testing.B) hub.Broker) {
	br := newBroker(b)
	req := benchRequest("bench:c")
	var latest stream.Position
	for range stream.DefaultHistorySize {
		latest = benchPublish(b, br, req).Position
	}
	recent := stream.Position{Epoch: latest.Epoch, Offset: latest.Offset - 10}
	for _, c := range []struct {
		name string
		q    stream.HistoryQuery
		n    int
	}{
		{"position-only", stream.HistoryQuery{}, 0},                       // a subscribe without recovery
		{"resume-10", stream.HistoryQuery{Since: &recent, Limit: -1}, 10}, // a reconnect
		{"last-100", stream.HistoryQuery{Limit: 100, Reverse: true}, 100},
		{"all-1000", stream.HistoryQuery{Limit: -1}, stream.DefaultHistorySize},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := br.History(context.Background(), "bench:c", c.q)
				if err != nil || len(page.Publications) != c.n {
					b.Fatalf("History: %d publications, %v; want %d", len(page.Publications), err, c.n)
				}
			}
		})
	}
}

// BenchChannels measures the cost of a channel the broker has to remember:
// each publication goes to a channel not used before, up to about a
// million.
func BenchChannels(b *testing.B, newBroker func(b *testing.B) hub.Broker) {
	req := benchRequest("")
	req.HistoryTTL = time.Hour
	benchPublishEach(b, newBroker(b), req, names("bench:c%d", 1<<20), func(r *stream.PublishRequest, ch string) { r.Channel = ch })
}

// benchPublishEach publishes req once an iteration, with set giving it the
// next of names, over and over.
func benchPublishEach(b *testing.B, br hub.Broker, req stream.PublishRequest, names []string, set func(*stream.PublishRequest, string)) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		set(&req, names[i%len(names)])
		i++
		benchPublish(b, br, req)
	}
}

// names returns n names made with format from 0, 1, …, n-1.
func names(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

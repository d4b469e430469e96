package sse_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// countingWriter is a client that reads instantly: it counts the
// publications written to it and discards the bytes.
type countingWriter struct {
	header    http.Header
	started   chan<- struct{}
	delivered chan<- struct{}
	first     bool
}

var pubMark = []byte(`data: {"channel":`)

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) FlushError() error   { return nil }

func (w *countingWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *countingWriter) Write(p []byte) (int, error) {
	if !w.first {
		w.first = true
		w.started <- struct{}{}
	}
	for range bytes.Count(p, pubMark) {
		w.delivered <- struct{}{}
	}
	return len(p), nil
}

// BenchmarkWriter measures one publication reaching N SSE subscribers: the
// hub's fan-out, each stream's wake-up, framing with its own id line, one
// write and one flush. allocs/op over N shows what each delivery costs on
// top of the publication's own encoding.
func BenchmarkWriter(b *testing.B) {
	for _, subs := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			benchWriter(b, subs)
		})
	}
}

func benchWriter(b *testing.B, subs int) {
	n := startNode(b, hub.Config{}, sse.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, subs)
	delivered := make(chan struct{}, subs)
	var wg sync.WaitGroup
	for range subs {
		w := &countingWriter{header: make(http.Header), started: started, delivered: delivered}
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/connection/sse?channel=chat:bench&channel=news", nil)
		wg.Go(func() { n.handler.ServeHTTP(w, r) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range subs {
		<-started
	}
	data := `{"text":"hello, subscribers"}`
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n.publish(b, "chat:bench", data)
		for range subs {
			<-delivered
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
}

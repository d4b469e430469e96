package poll_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// BenchmarkLongPollFanout holds N long polls on one channel and publishes
// once: the publication is encoded once and each poll answers with it. One
// op is the whole round — N polls opened, subscribed, released and answered
// — so allocs/op divided by N is the cost of one poll.
//
// In the live variants a live subscriber keeps the channel on the node
// between rounds, as the other clients of a busy channel do, so every poll
// finds the channel at its cursor (see hub's joinCurrent); without one,
// each round subscribes the node to the channel again.
func BenchmarkLongPollFanout(b *testing.B) {
	for _, pollers := range []int{1, 100, 1000} {
		for _, live := range []bool{false, true} {
			name := fmt.Sprintf("pollers=%d", pollers)
			if live {
				name += "/live"
			}
			b.Run(name, func(b *testing.B) {
				benchFanout(b, pollers, live)
			})
		}
	}
}

func benchFanout(b *testing.B, pollers int, live bool) {
	n := startNode(b, hub.Config{}, poll.Config{})
	h := poll.New(poll.Config{Hub: n.Hub})
	var keeper *hub.Session
	if live {
		s, err := n.Hub.NewSession(hub.SessionOptions{Transport: stream.WebSocket, Encoder: liveEncoder{}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		if _, err := s.Subscribe(context.Background(), "chat:bench", hub.SubscribeOptions{}); err != nil {
			b.Fatal(err)
		}
		keeper = s
	}
	pos := n.publish(b, "chat:bench", 1)
	var drained []hub.Item
	var cur stream.Cursor
	cur.Set("chat:bench", pos)
	target := "/connection/poll?channel=chat:bench&timeout=30s&cursor=" + cur.String()

	reqs := make([]*http.Request, pollers)
	recs := make([]*httptest.ResponseRecorder, pollers)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, target, nil)
	}
	data := []byte(`{"text":"hello, pollers"}`)
	b.ReportAllocs()
	for b.Loop() {
		var wg sync.WaitGroup
		wg.Add(pollers)
		for i := range reqs {
			recs[i] = httptest.NewRecorder()
			go func() {
				defer wg.Done()
				h.ServeHTTP(recs[i], reqs[i])
			}()
		}
		// Wait for every poll to be held: sessions first, which costs no
		// allocation, then subscriptions, whose count costs a little.
		for n.Hub.Sessions() < pollers {
			runtime.Gosched()
		}
		subs := int64(pollers)
		if keeper != nil {
			subs++
		}
		for n.Hub.Stats().Subscriptions < subs {
			runtime.Gosched()
		}
		res, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:bench", Data: data})
		if err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		if keeper != nil {
			// The keeper's own copy: taken, so its queue never fills.
			for len(drained) == 0 {
				drained = keeper.Take(drained)
				runtime.Gosched()
			}
			drained = drained[:0]
		}
		for _, rec := range recs {
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		// The next round starts from the new publication, so every round
		// is answered by the live publication, not by a replay.
		cur.Set("chat:bench", res.Position)
		target = "/connection/poll?channel=chat:bench&timeout=30s&cursor=" + cur.String()
		for i := range reqs {
			reqs[i].URL.RawQuery = target[len("/connection/poll?"):]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pollers), "ns/poll")
}

// BenchmarkKeptPolls holds N long polls on one channel over plain
// HTTP/1.1 connections, each its own kept-alive socket written and read
// by the benchmark itself (no goroutine on the client's side), and
// publishes once: every poll is answered and its client polls again at
// once from the new cursor. One op is that round, so ns/poll and
// allocs/op divided by N are the cost of one delivery by long poll:
// answering the parked poll, reading and serving the next request,
// parking it again. A live subscriber keeps the channel on the node.
func BenchmarkKeptPolls(b *testing.B) {
	for _, pollers := range []int{1, 100} {
		b.Run(fmt.Sprintf("pollers=%d", pollers), func(b *testing.B) {
			benchKept(b, pollers)
		})
	}
}

func benchKept(b *testing.B, pollers int) {
	n := startNode(b, hub.Config{}, poll.Config{})
	s, err := n.Hub.NewSession(hub.SessionOptions{Transport: stream.WebSocket, Encoder: liveEncoder{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.Subscribe(context.Background(), "chat:kept", hub.SubscribeOptions{}); err != nil {
		b.Fatal(err)
	}
	pos := n.publish(b, "chat:kept", 1)
	var cur stream.Cursor
	cur.Set("chat:kept", pos)
	conns := make([]*rawConn, pollers)
	for i := range conns {
		conns[i] = dialRaw(b, n.url)
	}
	// Each client sends its id back, as the SDKs send the one the first
	// reply gave.
	send := func(i int) {
		if _, err := fmt.Fprintf(conns[i].nc, "GET /connection/poll?channel=chat:kept&timeout=30s&client=bench%d&cursor=%s HTTP/1.1\r\nHost: node\r\n\r\n", i, cur.String()); err != nil {
			b.Fatal(err)
		}
	}
	for i := range conns {
		send(i)
	}
	data := []byte(`{"text":"hello, pollers"}`)
	var drained []hub.Item
	b.ReportAllocs()
	cpu0 := testkit.ProcessCPU()
	for b.Loop() {
		// Every poll parked, as at a publication a second: the next
		// request read, served and waiting for the publication. Waited
		// for without spinning, which would count in the CPU figure and
		// starve the network poller.
		testkit.Eventually(b, "every poll to wait", func() bool {
			return poll.Parked(n.handler) == pollers
		})
		res, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:kept", Data: data})
		if err != nil {
			b.Fatal(err)
		}
		cur.Set("chat:kept", res.Position)
		for i, c := range conns {
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			send(i)
		}
		for len(drained) == 0 {
			drained = s.Take(drained)
			runtime.Gosched()
		}
		drained = drained[:0]
	}
	// Wall time is mostly the pacing above; the process's CPU time (the
	// node's and the clients' both) is the figure to compare.
	b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N*pollers), "cpu-ns/poll")
}

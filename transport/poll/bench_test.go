package poll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
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

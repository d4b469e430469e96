package client_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/stream"
)

func TestLiveDelivery(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, err := c.Subscribe("chat:live", client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.run(t)
		if s := subscribed(t, sub); !s.Recovered || s.Position.Offset != 0 {
			t.Errorf("first Subscribed = %+v, want recovered at offset 0", s)
		}
		if s := c.State(); s.Status != client.Connected || s.Transport != tr {
			t.Errorf("State() = %v, want connected(%s)", s, tr)
		}
		for i := 1; i <= 20; i++ {
			n.publish(t, "chat:live", fmt.Sprintf(`{"n":%d}`, i))
		}
		pubs := expectOffsets(t, sub, 1, 20)
		if got := string(pubs[19].Data); got != `{"n":20}` {
			t.Errorf("last data %s", got)
		}
		if pos, _ := sub.Position(); pos.Offset != 20 {
			t.Errorf("Position() = %+v, want offset 20", pos)
		}
	})
}

// TestResumeThroughCuts publishes steadily while the network under the
// client is cut again and again: every publication arrives once, in order.
func TestResumeThroughCuts(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("chat:cuts", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)

		const total = 60
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= total; i++ {
				n.publish(t, "chat:cuts", fmt.Sprintf("%d", i))
				if i%10 == 0 {
					n.proxy.CutAll()
				}
				time.Sleep(3 * time.Millisecond)
			}
		}()
		expectOffsets(t, sub, 1, total)
		wg.Wait()
		// Nothing more: a repeat after the last would show here.
		n.publish(t, "chat:cuts", `"end"`)
		expectOffsets(t, sub, total+1, total+1)
		// A poll between two requests has nothing to cut: net/http
		// retries a GET on a dead keep-alive connection by itself.
		if streams(tr) && c.states.count(isDisconnected) == 0 {
			t.Error("the cuts never disconnected the client")
		}
	})
}

// TestResumeWhileDown publishes while the client cannot reach the node at
// all: it gets the missed publications from history when it is back.
func TestResumeWhileDown(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("chat:down", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		n.publish(t, "chat:down", "1")
		expectOffsets(t, sub, 1, 1)

		n.proxy.SetBlocked(true)
		n.proxy.CutAll()
		_, i := c.states.wait(t, 0, "disconnected", isDisconnected)
		for j := 2; j <= 6; j++ {
			n.publish(t, "chat:down", fmt.Sprint(j))
		}
		n.proxy.SetBlocked(false)
		c.states.wait(t, i, "connected again", connectedOver(tr))
		expectOffsets(t, sub, 2, 6)
	})
}

func TestSubscribeAndUnsubscribeWhileConnected(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		a, _ := c.Subscribe("chat:a", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, a)
		n.publish(t, "chat:a", "1")
		expectOffsets(t, a, 1, 1)

		b, err := c.Subscribe("chat:b", client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subscribe("chat:b", client.SubscribeOptions{}); !errors.Is(err, stream.ErrAlreadySubscribed) {
			t.Errorf("second Subscribe: %v, want ErrAlreadySubscribed", err)
		}
		subscribed(t, b)
		n.publish(t, "chat:a", "2")
		n.publish(t, "chat:b", "1")
		expectOffsets(t, a, 2, 2)
		expectOffsets(t, b, 1, 1)

		a.Unsubscribe()
		a.Unsubscribe() // twice is fine
		if ev, ok := next(t, a).(client.Unsubscribed); !ok || ev.Err != nil {
			t.Fatalf("after Unsubscribe: %#v", ev)
		}
		n.publish(t, "chat:a", "3")
		n.publish(t, "chat:b", "2")
		expectOffsets(t, b, 2, 2)
		if _, err := a.Next(t.Context()); !errors.Is(err, client.ErrUnsubscribed) {
			t.Errorf("Next after Unsubscribed: %v", err)
		}

		// The same channel again starts a new subscription, live.
		a2, err := c.Subscribe("chat:a", client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s := subscribed(t, a2); s.Position.Offset != 3 {
			t.Errorf("resubscribed at %+v, want offset 3", s.Position)
		}
		n.publish(t, "chat:a", "4")
		expectOffsets(t, a2, 4, 4)
	})
}

// TestSince resumes a new client from a position saved by an earlier one.
func TestSince(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		var pos stream.Position
		for i := 1; i <= 5; i++ {
			pos = n.publish(t, "chat:since", fmt.Sprint(i))
		}
		pos.Offset = 2
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("chat:since", client.SubscribeOptions{Since: &pos})
		c.run(t)
		if s := subscribed(t, sub); !s.Recovered {
			t.Errorf("Subscribed = %+v, want recovered", s)
		}
		expectOffsets(t, sub, 3, 5)
	})
}

func TestSubscribeRefused(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		ok, _ := c.Subscribe("chat:ok", client.SubscribeOptions{})
		bad, _ := c.Subscribe("closed:x", client.SubscribeOptions{})
		c.run(t)
		ev, isEnd := next(t, bad).(client.Unsubscribed)
		if !isEnd || !errors.Is(ev.Err, stream.ErrPermissionDenied) {
			t.Fatalf("refused subscription: %#v, want Unsubscribed with permission denied", ev)
		}
		subscribed(t, ok)
		n.publish(t, "chat:ok", "1")
		expectOffsets(t, ok, 1, 1)
	})
	t.Run("invalid name", func(t *testing.T) {
		c, err := client.New("http://127.0.0.1:1", client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subscribe("bad name", client.SubscribeOptions{}); !errors.Is(err, stream.ErrInvalidChannel) {
			t.Errorf("Subscribe: %v, want ErrInvalidChannel", err)
		}
	})
}

func (l *stateLog) count(ok func(client.State) bool) int {
	n := 0
	for _, s := range l.snapshot() {
		if ok(s) {
			n++
		}
	}
	return n
}

// TestGap: while the client is away, more is published than the channel's
// history keeps (two publications in namespace "tiny"). On its return the
// client reports a gap from its position to the channel's latest, then
// goes on live.
func TestGap(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("tiny:g", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		first := n.publish(t, "tiny:g", "1")
		expectOffsets(t, sub, 1, 1)

		n.proxy.SetBlocked(true)
		n.proxy.CutAll()
		_, i := c.states.wait(t, 0, "disconnected", isDisconnected)
		var latest stream.Position
		for j := 2; j <= 6; j++ {
			latest = n.publish(t, "tiny:g", fmt.Sprint(j))
		}
		n.proxy.SetBlocked(false)
		c.states.wait(t, i, "connected again", connectedOver(tr))

		if s := subscribed(t, sub); s.Recovered || s.Position != latest {
			t.Errorf("Subscribed = %+v, want not recovered at %+v", s, latest)
		}
		gap, ok := next(t, sub).(client.Gap)
		if !ok || gap.From != first || gap.To != latest {
			t.Fatalf("got %#v, want Gap from %+v to %+v", gap, first, latest)
		}
		n.publish(t, "tiny:g", "7")
		expectOffsets(t, sub, 7, 7)
	})
}

// TestGapSince: a saved position older than the history is a gap from the
// first subscribe.
func TestGapSince(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		first := n.publish(t, "tiny:s", "1")
		var latest stream.Position
		for j := 2; j <= 5; j++ {
			latest = n.publish(t, "tiny:s", fmt.Sprint(j))
		}
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}})
		sub, _ := c.Subscribe("tiny:s", client.SubscribeOptions{Since: &first})
		c.run(t)
		if s := subscribed(t, sub); s.Recovered {
			t.Errorf("Subscribed = %+v, want not recovered", s)
		}
		if gap, ok := next(t, sub).(client.Gap); !ok || gap.From != first || gap.To != latest {
			t.Fatalf("got %#v, want Gap from %+v to %+v", gap, first, latest)
		}
		n.publish(t, "tiny:s", "6")
		expectOffsets(t, sub, 6, 6)
	})
}

package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
)

// TestFallback refuses the better transports at the node's door: the
// client settles on the first that works and delivers everything in order.
func TestFallback(t *testing.T) {
	tests := []struct {
		name  string
		block map[string]string
		want  client.Transport
	}{
		{"websocket refused", map[string]string{pathWS: "refuse"}, client.SSE},
		{"websocket hangs", map[string]string{pathWS: "hang"}, client.SSE},
		{"websocket cut", map[string]string{pathWS: "cut"}, client.SSE},
		{"sse cut before its first event", map[string]string{pathWS: "refuse", pathSSE: "cut"}, client.LongPoll},
		{"websocket and sse refused", map[string]string{pathWS: "refuse", pathSSE: "refuse"}, client.LongPoll},
		{"sse hangs", map[string]string{pathWS: "refuse", pathSSE: "hang"}, client.LongPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fallsBackTo(t, tt.block, nil, tt.want)
		})
	}
}

// fallsBackTo checks that a client with transports list (nil: the
// default), at a node that refuses, holds or cuts the paths in block,
// settles on want, and that want delivers and publishes in order.
func fallsBackTo(t *testing.T, block map[string]string, list []client.Transport, want client.Transport) {
	t.Helper()
	n := newNode(t)
	for path, mode := range block {
		n.gate.set(path, mode)
	}
	c := n.newClient(t, client.Options{Transports: list, OpenTimeout: 300 * time.Millisecond})
	sub, _ := c.Subscribe("chat:fb", client.SubscribeOptions{})
	c.run(t)
	c.states.wait(t, 0, "connected over "+string(want), connectedOver(want))
	subscribed(t, sub)
	for i := 1; i <= 10; i++ {
		n.publish(t, "chat:fb", fmt.Sprint(i))
	}
	expectOffsets(t, sub, 1, 10)
	if _, err := c.Publish(t.Context(), "chat:fb", "from the client", client.PublishOptions{}); err != nil {
		t.Fatalf("Publish over %s: %v", want, err)
	}
	expectOffsets(t, sub, 11, 11)
}

// TestFallbackMidStream moves a client from WebSocket to SSE to long
// polling while publications keep coming: the position carries over from
// one transport to the next with no gap and no repeat.
func TestFallbackMidStream(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := n.newClient(t, client.Options{OpenTimeout: 300 * time.Millisecond})
	sub, _ := c.Subscribe("chat:move", client.SubscribeOptions{})
	c.run(t)
	_, i := c.states.wait(t, 0, "connected over websocket", connectedOver(client.WebSocket))
	subscribed(t, sub)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := 1; j <= 90; j++ {
			n.publish(t, "chat:move", fmt.Sprint(j))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	expectOffsets(t, sub, 1, 20)
	n.gate.set(pathWS, "refuse")
	n.proxy.CutAll()
	_, i = c.states.wait(t, i, "connected over sse", connectedOver(client.SSE))
	expectOffsets(t, sub, 21, 50)
	n.gate.set(pathSSE, "refuse")
	n.proxy.CutAll()
	c.states.wait(t, i, "connected over longpoll", connectedOver(client.LongPoll))
	expectOffsets(t, sub, 51, 90)
	wg.Wait()
}

// TestUpgrade lets WebSocket through again after the client fell back: it
// moves back to it at the next upgrade attempt, losing nothing.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	n.gate.set(pathWS, "refuse")
	n.gate.set(pathSSE, "refuse")
	c := n.newClient(t, client.Options{UpgradeInterval: 200 * time.Millisecond})
	sub, _ := c.Subscribe("chat:up", client.SubscribeOptions{})
	c.run(t)
	_, i := c.states.wait(t, 0, "connected over longpoll", connectedOver(client.LongPoll))
	subscribed(t, sub)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := 1; j <= 60; j++ {
			n.publish(t, "chat:up", fmt.Sprint(j))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	expectOffsets(t, sub, 1, 10)
	n.gate.set(pathSSE, "")
	_, i = c.states.wait(t, i, "upgraded to sse", connectedOver(client.SSE))
	n.gate.set(pathWS, "")
	c.states.wait(t, i, "upgraded to websocket", connectedOver(client.WebSocket))
	expectOffsets(t, sub, 11, 60)
	wg.Wait()
	if s := c.states.count(isDisconnected); s != 0 {
		t.Errorf("the upgrades disconnected the client %d times", s)
	}
}

// TestDeadConnection freezes the network under a WebSocket: no byte comes
// and nothing is closed. The missing pings give it away and the client
// reconnects.
func TestDeadConnection(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.WebSocket}, PingGrace: 500 * time.Millisecond})
	sub, _ := c.Subscribe("chat:dead", client.SubscribeOptions{})
	c.run(t)
	subscribed(t, sub)
	n.publish(t, "chat:dead", "1")
	expectOffsets(t, sub, 1, 1)

	thaw := n.proxy.Freeze()
	defer thaw()
	start := time.Now()
	s, i := c.states.wait(t, 0, "disconnected", isDisconnected)
	if !strings.Contains(fmt.Sprint(s.Err), "no ping") {
		t.Errorf("disconnected with %v, want a missing ping", s.Err)
	}
	// The node pings every second; the grace is half a second.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s to notice", d)
	}
	c.states.wait(t, i, "connected again", connectedOver(client.WebSocket))
	n.publish(t, "chat:dead", "2")
	expectOffsets(t, sub, 2, 2)
}

// TestNoTransport reports a node that cannot be reached on any transport by
// trying again, not by returning.
func TestNoTransport(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	n.proxy.SetBlocked(true)
	c := n.newClient(t, client.Options{})
	c.run(t)
	_, i := c.states.wait(t, 0, "disconnected", isDisconnected)
	c.states.wait(t, i, "disconnected again", isDisconnected)
	n.proxy.SetBlocked(false)
	c.states.wait(t, i, "connected", connectedOver(client.WebSocket))
}

// TestBadURL checks that New refuses what Run could never use, before
// anything is dialed.
func TestBadURL(t *testing.T) {
	for _, url := range []string{"ftp://x", "http://", "::", ""} {
		if c, err := client.New(url, client.Options{}); err == nil || c != nil {
			t.Errorf("New(%q): %v, %v; want an error and no client", url, c, err)
		}
	}
	for _, tc := range []struct {
		name string
		ts   []client.Transport
		want string
	}{
		{"unknown transport", []client.Transport{"carrier-pigeon"}, `unknown transport "carrier-pigeon"`},
		{"transport listed twice", []client.Transport{client.SSE, client.WebSocket, client.SSE}, `transport "sse" listed twice`},
	} {
		c, err := client.New("http://127.0.0.1:1", client.Options{Transports: tc.ts})
		if err == nil || c != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New: %v, %v; want an error with %q and no client", tc.name, c, err, tc.want)
		}
	}
}

// TestRunOnce checks that a client runs once: a second Run, during or
// after the first, is refused.
func TestRunOnce(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Errorf("Run with an ended context: %v, want nil", err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, client.ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
}

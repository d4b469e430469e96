//go:build linux

package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/ws"
)

// parkCounter reports each time a connection parks in the poller.
func parkCounter(t *testing.T, n *node) func(count int) {
	t.Helper()
	parks := make(chan struct{}, 100000)
	ws.OnPark(n.handler, func() { parks <- struct{}{} })
	return func(count int) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for i := 0; i < count; i++ {
			select {
			case <-parks:
			case <-timeout:
				t.Fatalf("%d of %d connections parked", i, count)
			}
		}
	}
}

func TestParkedConnectionWakesOnData(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	awaitParked := parkCounter(t, n)
	c := connected(t, n)
	awaitParked(1)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	for i := 1; i <= 5; i++ {
		awaitParked(1)
		// Written while parked: the write path needs no reader.
		if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:x", Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		if m := c.read(); m.Type != "message" || m.Offset != uint64(2*i-1) {
			t.Fatalf("frame %+v, want message %d", m, 2*i-1)
		}
		// Read after parking: the poller wakes the connection.
		p := c.call(protocol.Command{Type: "publish", Channel: "chat:x", Data: json.RawMessage(`"c"`)})
		if p.Error != nil || p.Offset != uint64(2*i) {
			t.Fatalf("publish reply %+v", p)
		}
		if m := c.read(); m.Type != "message" || m.Offset != uint64(2*i) {
			t.Fatalf("frame %+v, want message %d", m, 2*i)
		}
	}
	// Several commands in one segment are all answered.
	var batch []byte
	for id := uint64(100); id < 105; id++ {
		batch = append(batch, maskedText(protocol.AppendCommand(nil, protocol.Command{Type: "history", ID: id, Channel: "chat:x", Limit: 1}))...)
	}
	if _, err := c.c.NetConn().Write(batch); err != nil {
		t.Fatal(err)
	}
	for id := uint64(100); id < 105; id++ {
		if f := c.readWire(); f.ID != id || f.Error != nil {
			t.Fatalf("reply %+v, want history #%d", f, id)
		}
	}
}

func TestParkedSilentClientIsDropped(t *testing.T) {
	n := startNode(t, hub.Config{PingInterval: 200 * time.Millisecond}, ws.Config{})
	awaitParked := parkCounter(t, n)
	c := connected(t, n)
	awaitParked(1)
	d, ce := c.closed()
	if d.Code != 3003 || !d.Reconnect || ce.Code != 3003 {
		t.Fatalf("disconnect %+v close %+v, want 3003 no pong", d, ce)
	}
	waitHandler(t, n)
}

func TestParkedClientCloses(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	awaitParked := parkCounter(t, n)
	c := connected(t, n)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	awaitParked(2)
	c.c.Close()
	waitHandler(t, n)
	if got := n.Hub.Stats().Sessions[stream.WebSocket]; got != 0 {
		t.Fatalf("%d sessions left after the client closed", got)
	}
}

func TestShutdownWithParkedConnections(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	awaitParked := parkCounter(t, n)
	const conns = 50
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = connected(t, n)
	}
	awaitParked(conns)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Hub.Shutdown(ctx, 0)
	}()
	for _, c := range clients {
		d, ce := c.closed()
		if d.Code != 3001 || !d.Reconnect || ce.Code != 3001 {
			t.Fatalf("disconnect %+v close %+v", d, ce)
		}
	}
	waitHandler(t, n)
}

func TestManyParkedConnections(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	awaitParked := parkCounter(t, n)
	const conns = 300
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = connected(t, n)
		if f := clients[i].call(protocol.Command{Type: "subscribe", Channel: "chat:many"}); f.Error != nil {
			t.Fatal(f.Error)
		}
	}
	awaitParked(2 * conns)
	if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:many", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if m := c.read(); m.Type != "message" || m.Offset != 1 {
			t.Fatalf("frame %+v", m)
		}
		c.send(protocol.Command{Type: "pong"})
	}
	for _, c := range clients {
		if f := c.call(protocol.Command{Type: "history", Channel: "chat:many", Limit: 1}); f.Error != nil || len(f.Publications) != 1 {
			t.Fatalf("history reply %+v", f)
		}
	}
	// Half go away while parked; the rest still work.
	for _, c := range clients[:conns/2] {
		c.c.Close()
	}
	for _, c := range clients[conns/2:] {
		if f := c.call(protocol.Command{Type: "unsubscribe", Channel: "chat:many"}); f.Error != nil {
			t.Fatalf("unsubscribe reply %+v", f)
		}
	}
}

// waitHandler waits until the handler has no connection left.
func waitHandler(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.handler.Wait(ctx); err != nil {
		t.Fatalf("connections still open: %v", err)
	}
}

// maskedText is a masked client text frame.
func maskedText(payload []byte) []byte {
	b := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	mask := [4]byte{7, 1, 3, 9}
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i&3])
	}
	return b
}

// A connection registers with the poller once, when it first parks: a
// client that waits for each reply (as browsers do) parks after every
// command, and each park would otherwise cost an epoll_ctl.
func TestParkingRegistersOnce(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	awaitParked := parkCounter(t, n)
	var registrations atomic.Int32
	ws.OnEpoll(n.handler, func() { registrations.Add(1) })
	c := connected(t, n)
	awaitParked(1)
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatal(f.Error)
	}
	for i := range 5 {
		awaitParked(1)
		if f := c.call(protocol.Command{Type: "history", Channel: "chat:x", Limit: 1}); f.Error != nil {
			t.Fatalf("history %d: %+v", i, f.Error)
		}
	}
	awaitParked(1)
	if got := registrations.Load(); got != 1 {
		t.Fatalf("%d poller registrations for 7 parks, want 1", got)
	}
}

// A command that arrives while the connection's reader is busy with the
// one before (here a subscribe waiting on the broker) is read once that is
// done: the poller's note of its arrival is not lost on the reader.
func TestCommandArrivingWhileReaderIsBusy(t *testing.T) {
	b := &stallingBroker{Broker: memory.New(memory.Config{}), channel: "chat:stalled",
		entered: make(chan struct{}, 1), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(b.release)
		}
	}
	t.Cleanup(release)
	n := startNode(t, hub.Config{Broker: b, PingInterval: time.Hour}, ws.Config{})
	awaitParked := parkCounter(t, n)
	noted := make(chan struct{}, 16)
	ws.OnNote(n.handler, func() { noted <- struct{}{} })
	c := connected(t, n)
	awaitParked(1)
	c.send(protocol.Command{ID: 7, Type: "subscribe", Channel: "chat:stalled"})
	select {
	case <-b.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscribe never reached the broker")
	}
	c.send(protocol.Command{ID: 8, Type: "history", Channel: "chat:stalled", Limit: 1})
	select {
	case <-noted:
	case <-time.After(5 * time.Second):
		t.Fatal("the poller noted no arrival while the reader was busy")
	}
	release()
	if f := c.read(); f.Type != "subscribe" || f.ID != 7 || f.Error != nil {
		t.Fatalf("frame %+v, want the subscribe's reply", f)
	}
	// read fails the test after 5 s: the history command must be read.
	if f := c.read(); f.Type != "history" || f.ID != 8 || f.Error != nil {
		t.Fatalf("frame %+v, want the history reply", f)
	}
}

// A connection whose client waits for the 101 before it sends connect (as
// browsers do) waits for it in the poller, with no goroutine; connect then
// works as ever.
func TestConnectionWaitsForConnectParked(t *testing.T) {
	n := startNode(t, hub.Config{}, ws.Config{})
	awaitParked := parkCounter(t, n)
	c := dial(t, n, nil)
	awaitParked(1)
	if f := c.call(protocol.Command{Type: "connect"}); f.Error != nil || f.Client == "" {
		t.Fatalf("connect reply %+v", f)
	}
	if f := c.call(protocol.Command{Type: "subscribe", Channel: "chat:x"}); f.Error != nil {
		t.Fatal(f.Error)
	}
}

// A client that sends no connect, or only part of its frame, is cut at
// the connect timeout, waiting parked or not.
func TestConnectTimeout(t *testing.T) {
	for _, sent := range [][]byte{nil, {0x81}} {
		t.Run(strconv.Itoa(len(sent))+" bytes", func(t *testing.T) {
			n := startNode(t, hub.Config{}, ws.Config{ConnectTimeout: 200 * time.Millisecond})
			c := dial(t, n, nil)
			if len(sent) > 0 {
				if _, err := c.c.NetConn().Write(sent); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
			var b [64]byte
			for {
				_, err := c.c.NetConn().Read(b[:])
				if err == nil {
					continue
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("the node did not close a connection that sent no connect")
				}
				break
			}
			waitHandler(t, n)
		})
	}
}

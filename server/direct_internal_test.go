package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/transport/ws"
)

// startDirect runs a directListener on 127.0.0.1:0 whose upgrades never
// complete (serve always wants more), with net/http's side drained by a
// goroutine that closes what it gets.
func startDirect(t *testing.T, timeout time.Duration) *directListener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectListener(inner, nil, timeout, slog.New(slog.DiscardHandler), func(net.Conn, []byte) ws.Verdict {
		return ws.HeadIncomplete
	})
	d.run()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := d.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		d.Close()
		<-accepted
		if err := d.Wait(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return d
}

// A client that starts an upgrade's head and never finishes it (slowloris)
// is closed once the head timeout passes, however slowly it trickles.
func TestDirectSlowHeadClosed(t *testing.T) {
	d := startDirect(t, 200*time.Millisecond)
	c, err := net.Dial("tcp", d.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /connection/websocket HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for {
		// Keep trickling while the node keeps the connection; the 50 ms
		// read only paces the loop.
		if _, err := io.WriteString(c, "X"); err != nil {
			return // closed by the node
		}
		var b [1]byte
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(b[:])
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			return // closed by the node (EOF or reset)
		}
		if time.Since(t0) > hangGuardInternal {
			t.Fatal("the node keeps a head that never ends")
		}
	}
}

// hangGuardInternal bounds the slow-head test: the node closes it within
// its 200 ms head timeout; this is only so a broken node fails, not hangs.
const hangGuardInternal = 10 * time.Second

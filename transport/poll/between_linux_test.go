//go:build linux

package poll_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// TestKeptConnectionSlowReader: a reply larger than the socket takes at
// once (the rest waits for the socket on a goroutine of its own) reaches a
// client that reads slowly, whole, and the connection serves the client's
// next poll after it.
func TestKeptConnectionSlowReader(t *testing.T) {
	// A reply larger than the most a socket's send buffer holds (4 MiB).
	n := startNode(t, hub.Config{QueueLimit: 16 << 20}, poll.Config{})
	kept := dialSmall(t, n.url)
	kept.send(t, "/connection/poll?channel=chat:big&timeout=20s")
	testkit.Eventually(t, "the poll to wait", func() bool { return subscribers(n, "chat:big") == 1 })
	pos := n.publish(t, "chat:big", 1)
	_, b := kept.reply(t)
	cursor := cursorIn(t, b)
	const count = 100
	data := []byte(`{"pad":"` + strings.Repeat("x", 60<<10) + `"}`)
	for range count {
		if _, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:big", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	kept.send(t, "/connection/poll?channel=chat:big&timeout=20s&cursor="+cursor)
	_, b = kept.reply(t)
	for i := range count {
		if want := fmt.Sprintf(`"offset":%d`, pos.Offset+1+uint64(i)); !strings.Contains(b, want) {
			t.Fatalf("reply of %d bytes has no %s", len(b), want)
		}
	}
	kept.send(t, "/connection/poll?channel=chat:big&timeout=0&cursor="+cursorIn(t, b))
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("poll after the large reply: %q", b)
	}
}

// dialSmall connects with a receive buffer of 4 KiB, set before the
// connection opens so that the window it advertises is small from the
// start.
func dialSmall(t *testing.T, base string) *rawConn {
	t.Helper()
	u, _ := url.Parse(base)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc: nc, br: bufio.NewReader(nc)}
}

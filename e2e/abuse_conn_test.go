package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// slowRcvBuf is the receive buffer of a client that never reads: the
// kernel then takes only a few KB of what the node writes, and the rest
// stays with the node — on its heap if it does not bound it.
const slowRcvBuf = 4096

// dialSlow dials the node's address with a small receive window.
func dialSlow(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, slowRcvBuf)
		})
		return errors.Join(err, serr)
	}}
	return d.DialContext(ctx, network, addr)
}

// unslow widens a slow connection's receive buffer, for the test to read
// what the node held for it quickly once the attack has been measured.
func unslow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 20)
	}
}

// rawConn is an HTTP/1.1 client connection the test drives by hand, so it
// can send a request and not read the answer.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// dialRaw opens a connection to n, slow (small receive window) or not.
func dialRaw(t *testing.T, ctx context.Context, n *node, slow bool) *rawConn {
	t.Helper()
	u, _ := url.Parse(n.URL)
	dial := (&net.Dialer{}).DialContext
	if slow {
		dial = dialSlow
	}
	c, err := dial(ctx, "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReaderSize(c, 64<<10)}
}

// send writes a request: method, target (path and query), headers, and a
// body of which only head is written now (Content-Length says size).
func (c *rawConn) send(t *testing.T, method, target string, header map[string]string, head string, size int) {
	t.Helper()
	u, _ := url.Parse("http://" + c.RemoteAddr().String())
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, u.Host)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", size)
	}
	b.WriteString("\r\n")
	b.WriteString(head)
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
}

// response reads the answer to the request sent, within d.
func (c *rawConn) response(d time.Duration) (*http.Response, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// positionZero is a cursor at offset 0 of the channel's epoch: resuming
// from it replays the whole history.
func positionZero(channel, epoch string) string {
	var c stream.Cursor
	c.Set(channel, stream.Position{Epoch: epoch, Offset: 0})
	return c.String()
}

// wsConnect dials a WebSocket (slow or not), sends connect with token and
// reads its reply, which it returns.
func wsConnect(t *testing.T, ctx context.Context, n *node, slow bool, token string) (*wsclient.Conn, protocol.Frame) {
	t.Helper()
	opts := wsclient.Options{}
	if slow {
		opts.DialContext = dialSlow
	}
	c, _, err := wsclient.Dial(ctx, n.WS, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: protocol.TypeConnect, ID: 1, Token: token})); err != nil {
		t.Fatal(err)
	}
	f, err := wsReply(c, 1, testWait)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c, f
}

// testWait bounds a wait for an answer the node gives at once.
const testWait = 10 * time.Second

// wsReply reads frames until the reply to command id (or an error push,
// id 0 with an error), within d. A close ends it with a
// *wsclient.CloseError.
func wsReply(c *wsclient.Conn, id uint64, d time.Duration) (protocol.Frame, error) {
	_ = c.NetConn().SetReadDeadline(time.Now().Add(d))
	defer c.NetConn().SetReadDeadline(time.Time{})
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return protocol.Frame{}, err
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			return protocol.Frame{}, fmt.Errorf("undecodable frame %s: %w", trimmed(b), err)
		}
		if f.ID == id && f.Type != protocol.TypeMessage || f.Type == protocol.TypeError {
			return f, nil
		}
	}
}

// wsEnd reads frames until the connection ends, within d, and says how it
// ended: the close code (0 when the node cut it without a close frame), or
// an error when it did not end.
func wsEnd(c *wsclient.Conn, d time.Duration) (uint16, error) {
	_ = c.NetConn().SetReadDeadline(time.Now().Add(d))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := errors.AsType[*wsclient.CloseError](err); ok {
			return ce.Code, nil
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return 0, fmt.Errorf("the connection was still open after %v", d)
		}
		return 0, nil // EOF or reset: the node cut it
	}
}

// pollAnswer is a poll's answer.
type pollAnswer struct {
	Publications []*stream.Publication `json:"publications"`
	Cursor       string                `json:"cursor"`
}

// historyAnswer is a history reply over HTTP.
type historyAnswer struct {
	Publications []*stream.Publication `json:"publications"`
}

// contiguous checks pubs run from offset from on, one by one.
func contiguous(pubs []*stream.Publication, from uint64) error {
	for i, p := range pubs {
		if p.Offset != from+uint64(i) {
			return fmt.Errorf("publication %d has offset %d, want %d", i, p.Offset, from+uint64(i))
		}
	}
	return nil
}

// decodeJSON decodes b into v, failing t with what b held.
func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("answer %s: %v", trimmed(b), err)
	}
}

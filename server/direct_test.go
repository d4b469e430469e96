package server_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/server"
)

// rawConn dials the node's socket for requests written by hand.
func rawConn(t *testing.T, base string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp, string(body)
}

const upgradeHead = "GET /connection/websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// connectFrame is a masked text frame (a zero mask) holding connect.
func connectFrame() []byte {
	p := `{"type":"connect","id":1}`
	return append([]byte{0x81, 0x80 | byte(len(p)), 0, 0, 0, 0}, p...)
}

// readConnectReply reads the server's first frame, unmasked and short.
func readConnectReply(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x81 || h[1] >= 126 {
		t.Fatalf("frame header % x, want a short text frame", h)
	}
	p := make([]byte, h[1])
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// The WebSocket endpoint shares its port with every other endpoint: the
// requests before an upgrade on one keep-alive connection, with bodies and
// pipelined in one write, are answered by net/http, and the upgrade after
// them still works.
func TestListenerServesHTTPBeforeUpgrade(t *testing.T) {
	n := newNode(t)
	c, br := rawConn(t, n.base)
	host := strings.TrimPrefix(n.base, "http://")
	body := `{"channel":"chat:a","data":{"n":1}}`
	publish := "POST /api/publish HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: apikey " + apiKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
	// Two requests in one write: the second must not be lost with the
	// bytes the listener read first.
	if _, err := io.WriteString(c, publish+"GET /healthz HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, got := readResponse(t, br, http.MethodPost); resp.StatusCode != http.StatusOK || !strings.Contains(got, `"offset":1`) {
		t.Fatalf("publish: %d %s", resp.StatusCode, got)
	}
	if resp, got := readResponse(t, br, http.MethodGet); resp.StatusCode != http.StatusOK || !strings.Contains(got, "ok") {
		t.Fatalf("healthz: %d %s", resp.StatusCode, got)
	}
	if _, err := io.WriteString(c, strings.Replace(upgradeHead, "%s", host, 1)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade after requests: %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := c.Write(connectFrame()); err != nil {
		t.Fatal(err)
	}
	if got := readConnectReply(t, br); !strings.Contains(got, `"type":"connect"`) || !strings.Contains(got, `"client"`) {
		t.Fatalf("connect reply %s", got)
	}
}

// A plain upgrade answered on the listener is a working connection, and a
// first frame sent with the request head is not lost.
func TestListenerUpgradeWithFrame(t *testing.T) {
	n := newNode(t)
	c, br := rawConn(t, n.base)
	host := strings.TrimPrefix(n.base, "http://")
	if _, err := c.Write(append([]byte(strings.Replace(upgradeHead, "%s", host, 1)), connectFrame()...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %d %v", resp.StatusCode, resp.Header)
	}
	if got := readConnectReply(t, br); !strings.Contains(got, `"client"`) {
		t.Fatalf("connect reply %s", got)
	}
}

// Every upgrade the node refuses is refused as net/http's path alone
// refuses it: same status, same coded body; and one it accepts gets the
// same 101.
func TestListenerUpgradeAnswersAsHTTP(t *testing.T) {
	origins, err := auth.NewOrigins([]string{"https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, func(c *server.Config) { c.Origins = origins })
	ref := httptest.NewServer(n.srv.Handler())
	t.Cleanup(ref.Close)

	key := "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	up := "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	ver := "Sec-WebSocket-Version: 13\r\n"
	cases := []struct{ name, line, headers string }{
		{"allowed origin", "GET /connection/websocket HTTP/1.1", up + key + ver + "Origin: https://app.example\r\n"},
		{"query", "GET /connection/websocket?x=1 HTTP/1.1", up + key + ver},
		{"origin not allowed", "GET /connection/websocket HTTP/1.1", up + key + ver + "Origin: https://evil.example\r\n"},
		{"no origin list match, same host", "GET /connection/websocket HTTP/1.1", up + key + ver + "Origin: http://HOST\r\n"},
		{"old version", "GET /connection/websocket HTTP/1.1", up + key + "Sec-WebSocket-Version: 8\r\n"},
		{"no version", "GET /connection/websocket HTTP/1.1", up + key},
		{"short key", "GET /connection/websocket HTTP/1.1", up + "Sec-WebSocket-Key: abc\r\n" + ver},
		{"no upgrade header", "GET /connection/websocket HTTP/1.1", "Connection: Upgrade\r\n" + key + ver},
		{"upgrade to something else", "GET /connection/websocket HTTP/1.1", "Upgrade: h2c\r\nConnection: Upgrade\r\n" + key + ver},
		{"connection keep-alive", "GET /connection/websocket HTTP/1.1", "Upgrade: websocket\r\nConnection: keep-alive\r\n" + key + ver},
		{"two upgrade headers", "GET /connection/websocket HTTP/1.1", up + "Upgrade: websocket\r\n" + key + ver},
		{"post", "POST /connection/websocket HTTP/1.1", up + key + ver + "Content-Length: 0\r\n"},
		{"head", "HEAD /connection/websocket HTTP/1.1", up + key + ver},
		{"HTTP/1.0", "GET /connection/websocket HTTP/1.0", up + key + ver},
		{"other path", "GET /connection/websocketx HTTP/1.1", up + key + ver},
		{"body", "GET /connection/websocket HTTP/1.1", up + key + ver + "Content-Length: 2\r\n"},
		{"head longer than the listener reads", "GET /connection/websocket HTTP/1.1", up + key + ver + "Cookie: c=" + strings.Repeat("x", 6000) + "\r\n"},
	}
	exchange := func(t *testing.T, base, line, headers string) (int, string, string) {
		t.Helper()
		c, br := rawConn(t, base)
		host := strings.TrimPrefix(base, "http://")
		req := line + "\r\nHost: " + host + "\r\n" + strings.ReplaceAll(headers, "HOST", host) + "\r\n"
		if strings.Contains(headers, "Content-Length: 2") {
			req += "{}"
		}
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		method, _, _ := strings.Cut(line, " ")
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept") + resp.Header.Get("Content-Type"), string(body)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := exchange(t, n.base, tc.line, tc.headers)
			wantCode, wantHdr, wantBody := exchange(t, ref.URL, tc.line, tc.headers)
			if code != wantCode || hdr != wantHdr || body != wantBody {
				t.Errorf("node answers %d %q %q; net/http alone %d %q %q", code, hdr, body, wantCode, wantHdr, wantBody)
			}
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// A node shutting down ends a connection whose request head never came,
// rather than waiting for it.
func TestListenerShutdownCutsSilentConnection(t *testing.T) {
	n := newNode(t)
	c, br := rawConn(t, n.base)
	if _, err := io.WriteString(c, "GET /connection/webso"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.shutdown() }()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("shutdown waits for a head that never comes")
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the connection is still open after shutdown")
	}
}

package e2e_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// A TLS node serves, on one port: WebSocket over TLS (upgraded by the
// listener), HTTP/1.1 requests on a keep-alive connection followed by an
// upgrade on that same connection, and HTTP/2.
func TestTLSListenerServesEveryProtocol(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	n := startNode(t, "--tls.cert-file", certFile, "--tls.key-file", keyFile)
	addr := strings.TrimPrefix(n.URL, "https://")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialTLS := func(ctx context.Context, _, _ string) (net.Conn, error) {
		d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}
		return d.DialContext(ctx, "tcp", addr)
	}

	t.Run("wss", func(t *testing.T) {
		c, _, err := wsclient.Dial(ctx, "ws://"+addr+"/connection/websocket", wsclient.Options{DialContext: dialTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: "connect", ID: 1})); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if f, err := protocol.DecodeFrame(b); err != nil || f.Type != "connect" || f.Client == "" {
			t.Fatalf("connect reply %s (%v)", b, err)
		}
	})

	t.Run("http/1.1 keep-alive, then upgrade", func(t *testing.T) {
		c, err := dialTLS(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		for range 2 {
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Close || !strings.Contains(string(body), "ok") {
				t.Fatalf("healthz: %d close=%v %s", resp.StatusCode, resp.Close, body)
			}
		}
		io.WriteString(c, "GET /connection/websocket HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Fatalf("upgrade after requests: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("h2", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		defer client.CloseIdleConnections()
		for range 2 {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/readyz", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
				t.Fatalf("readyz over %s: %d", resp.Proto, resp.StatusCode)
			}
		}
	})
}

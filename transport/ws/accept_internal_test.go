package ws

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

const testPath = "/connection/websocket"

var headSeeds = []string{
	"GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	// A browser's, with cookies and extensions.
	"GET /connection/websocket?token=abc HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, Upgrade\r\nPragma: no-cache\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nUpgrade: websocket\r\nOrigin: https://app.example\r\nSec-WebSocket-Version: 13\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nCookie: switchboard_token=xyz; theme=dark\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n\x81\x80\x00\x00\x00\x00",
	"GET /connection/websocket HTTP/1.1\nHost: a\n\n",
	"GET /connection/websocket HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
	"POST /api/publish HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
	"GET /connection/websocket HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET /connection/websocket HTTP/1.1\r\nHost: a\r\nHost: b\r\nUpgrade: websocket\r\n\r\n",
	"GET /connection/websocket#x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /connection/websocket HTTP/1.1\r\nHo st: a\r\n\r\n",
}

// A typical head is taken, whole, and only whole: every shorter prefix
// asks for more.
func TestParseUpgradeServesBrowserHead(t *testing.T) {
	for _, h := range headSeeds[:2] {
		var r upgradeRequest
		v, end := parseUpgrade([]byte(h), testPath, &r)
		if v != HeadServed || !r.valid() {
			t.Fatalf("%q: verdict %d, valid %v", h, v, r.valid())
		}
		if head := h[:end]; !strings.HasSuffix(head, "\r\n\r\n") || strings.Count(h[end:], "\r\n\r\n") != 0 {
			t.Fatalf("%q: head ends at %d", h, end)
		}
		for k := range end {
			if v, _ := parseUpgrade([]byte(h[:k]), testPath, &upgradeRequest{}); v != HeadIncomplete {
				t.Fatalf("%q: %d bytes of it: verdict %d, want more", h, k, v)
			}
		}
	}
	var accept [28]byte
	acceptKey(&accept, []byte("dGhlIHNhbXBsZSBub25jZQ=="))
	if string(accept[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" { // RFC 6455, 1.3
		t.Fatalf("accept %s", accept)
	}
}

// FuzzParseUpgrade checks the head reader against net/http's: a head it
// takes is one net/http reads as the same GET with the same headers and no
// body, and no prefix of it is taken.
func FuzzParseUpgrade(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r upgradeRequest
		v, end := parseUpgrade(b, testPath, &r)
		if v != HeadServed {
			return
		}
		if end <= 0 || end > len(b) || !bytes.HasSuffix(b[:end], []byte("\r\n\r\n")) {
			t.Fatalf("head of %q ends at %d", b, end)
		}
		for _, k := range []int{end - 1, end / 2} {
			if v, _ := parseUpgrade(b[:k], testPath, &upgradeRequest{}); v == HeadServed {
				t.Fatalf("%q: taken after %d of its %d bytes", b, k, end)
			}
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:end])))
		if err != nil {
			t.Fatalf("%q: taken, but net/http says %v", b[:end], err)
		}
		if req.Method != http.MethodGet || req.URL.Path != testPath || req.ProtoMinor != 1 || req.ProtoMajor != 1 {
			t.Fatalf("%q: net/http reads %s %s %s", b[:end], req.Method, req.URL.Path, req.Proto)
		}
		if req.ContentLength != 0 || len(req.TransferEncoding) > 0 {
			t.Fatalf("%q: net/http reads a body", b[:end])
		}
		for name, got := range map[string][]byte{
			"Upgrade": r.upgrade, "Connection": r.connection, "Sec-WebSocket-Key": r.key,
			"Sec-WebSocket-Version": r.version, "Origin": r.origin,
		} {
			if vs := req.Header.Values(name); len(vs) > 1 || req.Header.Get(name) != string(got) {
				t.Fatalf("%q: %s is %q; net/http reads %q", b[:end], name, got, vs)
			}
		}
		if req.Host != string(r.host) {
			t.Fatalf("%q: host %q; net/http reads %q", b[:end], r.host, req.Host)
		}
	})
}

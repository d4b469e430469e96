package sse_test

import (
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// TestHTTP2 runs several streams on one TLS connection, as a browser does
// with HTTP/2, where the per-host connection limit of HTTP/1.1 no longer
// caps how many tabs can stream.
func TestHTTP2(t *testing.T) {
	n := start(t, hub.Config{}, sse.Config{}, true)
	conns := make(chan string, 2)
	open := func(query string) *sseStream {
		t.Helper()
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			conns <- info.Conn.LocalAddr().String()
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, n.url+"?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		s := newStream(t, resp)
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("%s over %s", resp.Status, resp.Proto)
		}
		if c := resp.Header.Get("Connection"); c != "" {
			t.Errorf("HTTP/2 response has Connection: %s", c)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}
		return s
	}
	a := open("channel=chat:a&channel=chat:both")
	b := open("channel=chat:b&channel=chat:both")
	if ca, cb := <-conns, <-conns; ca != cb {
		t.Errorf("streams on two connections: %s and %s", ca, cb)
	}
	a.connected()
	b.connected()
	n.publish(t, "chat:a", `"a"`)
	n.publish(t, "chat:b", `"b"`)
	n.publish(t, "chat:both", `"both"`)
	a.wantPubs("chat:a", 1)
	a.wantPubs("chat:both", 1)
	b.wantPubs("chat:b", 1)
	b.wantPubs("chat:both", 1)

	// One stream ending leaves the other running.
	a.close()
	n.publish(t, "chat:both", `"again"`)
	b.wantPubs("chat:both", 2)
}

// TestHTTP2IdleLongerThanWriteTimeout: the write deadline bounds writes, not
// the quiet time between them, which over HTTP/2 would reset the stream.
func TestHTTP2IdleLongerThanWriteTimeout(t *testing.T) {
	n := start(t, hub.Config{PingInterval: 160 * time.Millisecond}, sse.Config{WriteTimeout: 20 * time.Millisecond}, true)
	s := n.open(t, "channel=chat:a", nil)
	s.connected()
	for range 3 {
		if ev := s.block(); ev.Event != "ping" {
			t.Fatalf("want a ping, got %+v", ev)
		}
	}
	n.publish(t, "chat:a", `"still open"`)
	s.wantPubs("chat:a", 1)
}

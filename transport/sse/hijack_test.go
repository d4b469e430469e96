package sse_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// flushOnly hides everything of the server's ResponseWriter but Flush: a
// stream served through it cannot leave net/http, so it takes the path
// HTTP/2 streams take.
type flushOnly struct{ http.ResponseWriter }

func (w flushOnly) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// startPair serves one handler at /connection/sse and, through flushOnly,
// at /plain.
func startPair(t *testing.T, scfg sse.Config) (*transporttest.Node, *sse.Handler) {
	t.Helper()
	var handler *sse.Handler
	n := transporttest.Start(t, transporttest.Config{Handler: func(h *hub.Hub) http.Handler {
		scfg.Hub = h
		scfg.Verifier = testkit.Verifier{}
		handler = sse.New(scfg)
		mux := http.NewServeMux()
		mux.Handle("/connection/sse", handler)
		mux.Handle("/plain", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handler.ServeHTTP(flushOnly{w}, r)
		}))
		return mux
	}, Drain: func(ctx context.Context) error { return handler.Wait(ctx) }})
	return n, handler
}

// handlerOnly serves scfg's handler at /connection/sse.
func handlerOnly(scfg sse.Config) func(h *hub.Hub) http.Handler {
	return func(h *hub.Hub) http.Handler {
		scfg.Hub = h
		scfg.Verifier = testkit.Verifier{}
		mux := http.NewServeMux()
		mux.Handle("/connection/sse", sse.New(scfg))
		return mux
	}
}

// rawStream is a stream read over a bare TCP connection: no goroutine on
// the client's side, and every byte the node sent.
type rawStream struct {
	nc   net.Conn
	resp *http.Response
	br   *bufio.Reader
}

func dialStream(t *testing.T, base, path string) *rawStream {
	t.Helper()
	u, _ := url.Parse(base)
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, u.Host)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return &rawStream{nc: nc, resp: resp, br: bufio.NewReader(resp.Body)}
}

// event reads one block, up to its blank line.
func (s *rawStream) event(t *testing.T) string {
	t.Helper()
	_ = s.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
	var b strings.Builder
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (read %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\n" {
			return b.String()
		}
	}
}

var clientID = regexp.MustCompile(`"client":"[^"]*"`)

// TestHijackedStreamBytes: a stream that leaves net/http sends what one
// kept in net/http sends, header for header and byte for byte, from the
// retry line to the disconnect event and the body's clean end.
func TestHijackedStreamBytes(t *testing.T) {
	n, _ := startPair(t, sse.Config{Retry: 1500 * time.Millisecond, RetryJitter: -1})
	q := "?channel=chat:a&channel=chat:b"
	hij := dialStream(t, n.Server.URL, "/connection/sse"+q)
	plain := dialStream(t, n.Server.URL, "/plain"+q)
	for _, s := range []*rawStream{hij, plain} {
		s.event(t) // retry
		s.event(t) // connected
	}
	n.Publish(t, "chat:a", `{"text":"one"}`)
	n.Publish(t, "chat:b", `{"text":"two"}`)
	n.Publish(t, "chat:a", `{"text":"three"}`)
	for _, s := range []*rawStream{hij, plain} {
		for range 3 {
			s.event(t)
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Hub.Shutdown(ctx, 0)
	}()
	bodies := make([]string, 2)
	for i, s := range []*rawStream{hij, plain} {
		_ = s.nc.SetReadDeadline(time.Now().Add(testkit.Wait))
		rest, err := io.ReadAll(s.br)
		if err != nil {
			t.Fatalf("stream %d did not end cleanly: %v (read %q)", i, err, rest)
		}
		bodies[i] = string(rest)
	}
	if !strings.Contains(bodies[0], "event: disconnect\n") || bodies[0] != bodies[1] {
		t.Fatalf("ends differ:\nhijacked: %q\nnet/http: %q", bodies[0], bodies[1])
	}
	for _, h := range []string{"Date"} {
		hij.resp.Header.Del(h)
		plain.resp.Header.Del(h)
	}
	if a, b := fmt.Sprint(hij.resp.Header, hij.resp.TransferEncoding), fmt.Sprint(plain.resp.Header, plain.resp.TransferEncoding); a != b {
		t.Fatalf("headers differ:\nhijacked: %s\nnet/http: %s", a, b)
	}
}

// TestHijackedStreamEvents compares the whole stream, opening events
// included, with the client id masked.
func TestHijackedStreamEvents(t *testing.T) {
	n, _ := startPair(t, sse.Config{Retry: 1500 * time.Millisecond, RetryJitter: -1})
	q := "?channel=chat:a"
	n.Publish(t, "chat:a", `{"text":"before"}`)
	streams := []*rawStream{dialStream(t, n.Server.URL, "/connection/sse"+q), dialStream(t, n.Server.URL, "/plain"+q)}
	got := make([]string, 2)
	for i, s := range streams {
		got[i] += s.event(t) + s.event(t)
	}
	n.Publish(t, "chat:a", `{"text":"after"}`)
	for i, s := range streams {
		got[i] = clientID.ReplaceAllString(got[i]+s.event(t), `"client":"X"`)
	}
	if !strings.HasPrefix(got[0], "retry: 1500\n\nevent: connected\n") || got[0] != got[1] {
		t.Fatalf("streams differ:\nhijacked: %q\nnet/http: %q", got[0], got[1])
	}
}

// TestIdleStreamsHoldNoGoroutine: 200 idle streams over HTTP/1.1 cost the
// node no goroutine each; the node still reaches them, and lets them go
// when they leave.
func TestIdleStreamsHoldNoGoroutine(t *testing.T) {
	n, h := startPair(t, sse.Config{})
	const conns = 200
	before := runtime.NumGoroutine()
	streams := make([]*rawStream, conns)
	for i := range streams {
		streams[i] = dialStream(t, n.Server.URL, "/connection/sse?channel=chat:idle")
		streams[i].event(t)
		streams[i].event(t)
	}
	// Writers end once the opening events are out; allow a few for the
	// poller and the hub.
	testkit.Eventually(t, "idle streams to hold no goroutine", func() bool {
		return runtime.NumGoroutine()-before < 20
	})
	n.Publish(t, "chat:idle", `{"text":"still there"}`)
	for _, s := range streams {
		if ev := s.event(t); !strings.Contains(ev, "still there") {
			t.Fatalf("idle stream got %q", ev)
		}
	}
	for _, s := range streams {
		s.nc.Close()
	}
	testkit.Eventually(t, "streams whose clients left to end", func() bool { return n.Hub.Sessions() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := h.Wait(ctx); err != nil {
		t.Fatalf("handler still holds streams: %v", err)
	}
}

package sse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	*transporttest.Node
	handler *sse.Handler
	client  *http.Client
	url     string
}

// allowList admits the listed origins and requests without one.
type allowList []string

func (a allowList) Check(origin, _ string) error {
	if origin == "" || slices.Contains(a, origin) {
		return nil
	}
	return fmt.Errorf("%w: %s", stream.ErrOriginNotAllowed, origin)
}

// shortHistory is how many publications a channel of the short namespace
// keeps.
const shortHistory = transporttest.ShortHistory

func startNode(t testing.TB, cfg hub.Config, scfg sse.Config) *node {
	return start(t, cfg, scfg, false)
}

// start runs a hub on the memory broker and the SSE handler at
// /connection/sse, over HTTP/1.1 or, with h2, over TLS with HTTP/2.
func start(t testing.TB, cfg hub.Config, scfg sse.Config, h2 bool) *node {
	t.Helper()
	var handler *sse.Handler
	n := transporttest.Start(t, transporttest.Config{Hub: cfg, TLS: h2, Handler: func(h *hub.Hub) http.Handler {
		scfg.Hub = h
		if scfg.Verifier == nil {
			scfg.Verifier = testkit.Verifier{}
		}
		handler = sse.New(scfg)
		mux := http.NewServeMux()
		mux.Handle("/connection/sse", handler)
		return mux
	}, Drain: func(ctx context.Context) error { return handler.Wait(ctx) }})
	return &node{Node: n, handler: handler, client: n.Server.Client(), url: n.Server.URL + "/connection/sse"}
}

func (n *node) publish(t testing.TB, ch, data string) stream.PublishResult {
	t.Helper()
	return n.Publish(t, ch, data)
}

// do sends a request and closes its body when the test ends.
func (n *node) do(t testing.TB, method, query string, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, n.url+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// sseStream is an open stream as a test reads it, with the checks of what
// the SSE handler sends. Reading starts with the first read, so a test can
// hold a stream open without reading.
type sseStream struct {
	*testkit.SSEStream
	t    testing.TB
	resp *http.Response
}

// open starts a stream and fails the test unless it is one.
func (n *node) open(t testing.TB, query string, hdr http.Header) *sseStream {
	t.Helper()
	resp := n.do(t, http.MethodGet, query, hdr)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET ?%s: %s %s", query, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return newStream(t, resp)
}

func newStream(t testing.TB, resp *http.Response) *sseStream {
	return &sseStream{SSEStream: testkit.NewSSEStream(t, resp.Body), t: t, resp: resp}
}

// close cuts the connection, as a browser tab going away does.
func (s *sseStream) close() { s.Close() }

// block returns the next block of any kind.
func (s *sseStream) block() testkit.SSEEvent {
	s.t.Helper()
	return s.Block()
}

// next returns the next block that dispatches an event, skipping pings.
func (s *sseStream) next() testkit.SSEEvent {
	s.t.Helper()
	return s.Next()
}

// pub reads the next event and checks it is a publication.
func (s *sseStream) pub() (protocol.Frame, stream.Cursor) {
	s.t.Helper()
	return s.pubFrom(s.next())
}

func (s *sseStream) pubFrom(ev testkit.SSEEvent) (protocol.Frame, stream.Cursor) {
	s.t.Helper()
	if ev.Event != "" || !ev.HasID {
		s.t.Fatalf("want a publication, got %+v", ev)
	}
	f, err := protocol.DecodeFrame([]byte(ev.Data))
	if err != nil || f.Type != "" || f.Channel == "" {
		s.t.Fatalf("publication data %q: %+v %v", ev.Data, f, err)
	}
	c, err := stream.ParseCursor(ev.ID)
	if err != nil {
		s.t.Fatalf("id %q: %v", ev.ID, err)
	}
	return f, c
}

// wantPubs reads publications of one channel with the given offsets.
func (s *sseStream) wantPubs(ch string, offsets ...uint64) string {
	s.t.Helper()
	var id string
	for _, want := range offsets {
		f, c := s.pub()
		if f.Channel != ch || f.Offset != want {
			s.t.Fatalf("got %s #%d, want %s #%d", f.Channel, f.Offset, ch, want)
		}
		if p, ok := c.Get(ch); !ok || p.Offset != want || p.Epoch != f.Epoch {
			s.t.Fatalf("id after %s #%d holds %+v (%v)", ch, want, p, ok)
		}
		id = c.String()
	}
	return id
}

type channelState struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Recovered bool   `json:"recovered"`
}

type connected struct {
	Client       string                  `json:"client"`
	Channels     map[string]channelState `json:"channels"`
	PingInterval int                     `json:"ping_interval"`
	ID           string                  `json:"-"`
	Retry        int                     `json:"-"`
}

// connected reads the opening retry block and connected event.
func (s *sseStream) connected() connected {
	s.t.Helper()
	r := s.block()
	if r.Retry < 0 || r.HasData {
		s.t.Fatalf("stream opens with %+v, want a retry", r)
	}
	ev := s.block()
	if ev.Event != "connected" || !ev.HasID {
		s.t.Fatalf("want the connected event, got %+v", ev)
	}
	var c connected
	dec := json.NewDecoder(strings.NewReader(ev.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Client == "" || c.PingInterval < 1 {
		s.t.Fatalf("connected data %q: %v", ev.Data, err)
	}
	if _, err := stream.ParseCursor(ev.ID); err != nil {
		s.t.Fatalf("connected id %q: %v", ev.ID, err)
	}
	c.ID, c.Retry = ev.ID, r.Retry
	return c
}

// disconnect reads to the end of the stream and returns its disconnect
// event, the last thing before the end.
func (s *sseStream) disconnect() protocol.Frame {
	s.t.Helper()
	last := s.End()
	if last.Event != "disconnect" {
		s.t.Fatalf("stream ended after %+v, want a disconnect event", last)
	}
	f, err := protocol.DecodeFrame([]byte(last.Data))
	if err != nil || f.Type != "disconnect" {
		s.t.Fatalf("disconnect data %q: %v", last.Data, err)
	}
	return f
}

// wantError checks a refused request: a status and a coded JSON body.
func wantError(t testing.TB, resp *http.Response, status int, code uint32) {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %s (%s), want %d", resp.Status, b, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	f, err := protocol.DecodeFrame(b)
	if err != nil || f.Error == nil || f.Error.Code != code {
		t.Fatalf("body %s, want error code %d", b, code)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func cursorOf(t testing.TB, positions map[string]stream.Position) string {
	t.Helper()
	var c stream.Cursor
	for ch, p := range positions {
		c.Set(ch, p)
	}
	return c.String()
}

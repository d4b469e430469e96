package sse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every read of a test stream; a passing test never comes near.
const wait = 10 * time.Second

type node struct {
	hub     *hub.Hub
	handler *sse.Handler
	srv     *httptest.Server
	client  *http.Client
	url     string
}

// fakeVerifier accepts "good:<user>" and "brief:<user>" (valid for 300ms),
// refuses "expired:<user>" as expired and anything else as invalid.
type fakeVerifier struct{}

func (fakeVerifier) Verify(token string) (stream.Identity, error) {
	kind, user, _ := strings.Cut(token, ":")
	switch kind {
	case "good":
		return stream.Identity{User: user, ExpiresAt: time.Now().Add(time.Hour)}, nil
	case "brief":
		return stream.Identity{User: user, ExpiresAt: time.Now().Add(300 * time.Millisecond)}, nil
	case "expired":
		return stream.Identity{}, fmt.Errorf("%w: exp in the past", stream.ErrTokenExpired)
	}
	return stream.Identity{}, fmt.Errorf("%w: unknown token", stream.ErrInvalidToken)
}

// policy refuses admin: channels to everyone and private: channels to
// anonymous clients.
type policy struct{}

func (policy) Allow(id *stream.Identity, a stream.Action, ch string, _ *stream.Namespace) error {
	if strings.HasPrefix(ch, "admin:") || strings.HasPrefix(ch, "private:") && id.Anonymous() {
		return fmt.Errorf("%w: %s %s", stream.ErrPermissionDenied, a, ch)
	}
	return nil
}

// allowList admits the listed origins and requests without one.
type allowList []string

func (a allowList) Check(origin, _ string) error {
	if origin == "" || slices.Contains(a, origin) {
		return nil
	}
	return fmt.Errorf("%w: %s", stream.ErrOriginNotAllowed, origin)
}

// shortHistory is a namespace that keeps two publications per channel.
const shortHistory = 2

func startNode(t testing.TB, cfg hub.Config, scfg sse.Config) *node {
	return start(t, cfg, scfg, false)
}

// start runs a hub on the memory broker and the SSE handler at
// /connection/sse, over HTTP/1.1 or, with h2, over TLS with HTTP/2.
func start(t testing.TB, cfg hub.Config, scfg sse.Config, h2 bool) *node {
	t.Helper()
	cfg.Broker = memory.New(memory.Config{})
	if cfg.Namespaces == nil {
		ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
			{Name: "chat"}, {Name: "admin"}, {Name: "private"}, {Name: "short", HistorySize: shortHistory},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Namespaces = ns
	}
	cfg.Policy = policy{}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = h.Run(ctx) }()
	scfg.Hub = h
	if scfg.Verifier == nil {
		scfg.Verifier = fakeVerifier{}
	}
	handler := sse.New(scfg)
	mux := http.NewServeMux()
	mux.Handle("/connection/sse", handler)
	srv := httptest.NewUnstartedServer(mux)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := h.Shutdown(sctx, 0); err != nil {
			t.Errorf("streams still open: %v", err)
		}
		srv.Close()
		cancel()
		<-runDone
	})
	return &node{hub: h, handler: handler, srv: srv, client: srv.Client(), url: srv.URL + "/connection/sse"}
}

func (n *node) publish(t testing.TB, ch, data string) stream.PublishResult {
	t.Helper()
	res, err := n.hub.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return res
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

// sseStream is an open stream as a test reads it. Reading starts with the
// first call to next, so a test can hold a stream open without reading.
type sseStream struct {
	t       testing.TB
	resp    *http.Response
	events  chan event
	err     error // why the stream ended; read once events is closed
	done    chan struct{}
	exited  chan struct{}
	started bool
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
	s := &sseStream{t: t, resp: resp, events: make(chan event), done: make(chan struct{}), exited: make(chan struct{})}
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) read() {
	defer close(s.exited)
	defer close(s.events)
	r := newEventReader(s.resp.Body)
	for {
		ev, err := r.next()
		if err != nil {
			s.err = err
			return
		}
		select {
		case s.events <- ev:
		case <-s.done:
			return
		}
	}
}

// stream returns the channel of parsed blocks, starting the reader.
func (s *sseStream) stream() <-chan event {
	if !s.started {
		s.started = true
		go s.read()
	}
	return s.events
}

// close cuts the connection, as a browser tab going away does.
func (s *sseStream) close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.resp.Body.Close()
	if s.started {
		<-s.exited
	}
}

// block returns the next block of any kind.
func (s *sseStream) block() event {
	s.t.Helper()
	select {
	case ev, ok := <-s.stream():
		if !ok {
			s.t.Fatalf("stream ended: %v", s.err)
		}
		return ev
	case <-time.After(wait):
		s.t.Fatal("no event in time")
	}
	panic("unreachable")
}

// next returns the next block that dispatches an event, skipping pings.
func (s *sseStream) next() event {
	s.t.Helper()
	for {
		if ev := s.block(); ev.HasData && ev.Event != "ping" {
			return ev
		}
	}
}

// pub reads the next event and checks it is a publication.
func (s *sseStream) pub() (protocol.Frame, stream.Cursor) {
	s.t.Helper()
	return s.pubFrom(s.next())
}

func (s *sseStream) pubFrom(ev event) (protocol.Frame, stream.Cursor) {
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
	var last event
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-s.stream():
			if !ok {
				if s.err != io.EOF {
					s.t.Fatalf("stream ended with %v", s.err)
				}
				if last.Event != "disconnect" {
					s.t.Fatalf("stream ended after %+v, want a disconnect event", last)
				}
				f, err := protocol.DecodeFrame([]byte(last.Data))
				if err != nil || f.Type != "disconnect" {
					s.t.Fatalf("disconnect data %q: %v", last.Data, err)
				}
				return f
			}
			if ev.HasData {
				last = ev
			}
		case <-timeout:
			s.t.Fatal("stream did not end in time")
		}
	}
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

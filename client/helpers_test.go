package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const hmacSecret = "client-test-secret-with-32-bytes!"

// allTransports is every transport, each behaviour runs under each.
var allTransports = []client.Transport{client.WebSocket, client.SSE, client.LongPoll, client.ShortPoll, client.GRPC}

// forEachTransport runs f as a parallel subtest per transport.
func forEachTransport(t *testing.T, f func(t *testing.T, tr client.Transport)) {
	t.Helper()
	for _, tr := range allTransports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

// streams reports whether tr holds one connection open for its events
// (WebSocket, SSE, gRPC), which carries joins and leaves and which a cut
// breaks, unlike polls.
func streams(tr client.Transport) bool {
	return tr == client.WebSocket || tr == client.SSE || tr == client.GRPC
}

// logger is quiet unless SWITCHBOARD_CLIENT_LOG is set.
func logger() *slog.Logger {
	if os.Getenv("SWITCHBOARD_CLIENT_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// node is a real node (hub, memory broker, server with every transport)
// behind a gate that can refuse transports and a TCP proxy that can break
// the network. URL points at the proxy.
type node struct {
	hub   *hub.Hub
	gate  *gate
	proxy *testenv.Proxy
	URL   string
}

func newNode(t *testing.T) *node {
	t.Helper()
	return newNodeOn(t, memory.New(memory.Config{Logger: logger()}))
}

// newNodeOn is newNode on the broker b.
func newNodeOn(t *testing.T, b hub.Broker) *node {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Publish: stream.AccessAnyone},
		{Name: "tiny", HistorySize: 2, Publish: stream.AccessAnyone},
		{Name: "closed", Subscribe: stream.AccessNobody},
		{Name: "room", Publish: stream.AccessAnyone, Presence: true, JoinLeave: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := transporttest.RunHub(t, hub.Config{
		Broker:       b,
		Policy:       &auth.Policy{},
		Namespaces:   ns,
		Logger:       logger(),
		PingInterval: time.Second,
		Presence:     memory.NewPresence(memory.PresenceConfig{SweepInterval: 50 * time.Millisecond}),
		PresenceTTL:  2 * time.Second,
	})
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: []string{hmacSecret}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Hub: h, APIKey: "test-key", Verifier: v, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{next: srv.Handler(), modes: make(map[string]string)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// HTTP/1.1 and h2c, as the node's own listener serves them.
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: g, ErrorLog: log.New(discard{}, "", 0), Protocols: protocols}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	p := testenv.NewProxy(t, ln.Addr().String())
	t.Cleanup(func() {
		p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, 0); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		<-served
		if err := srv.Wait(ctx); err != nil {
			t.Errorf("handlers: %v", err)
		}
		v.Close()
	})
	return &node{hub: h, gate: g, proxy: p, URL: "http://" + p.Addr()}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// publish publishes from the application's side and returns the position.
func (n *node) publish(t *testing.T, channel, data string) stream.Position {
	t.Helper()
	res, err := n.hub.Publish(context.Background(), stream.PublishRequest{Channel: channel, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("publish %s: %v", channel, err)
	}
	return res.Position
}

// history returns every publication the node keeps for channel.
func (n *node) history(t *testing.T, channel string) []*stream.Publication {
	t.Helper()
	page, err := n.hub.History(context.Background(), channel, stream.HistoryQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return page.Publications
}

// gate stands in front of the node's handler like a proxy that blocks some
// paths: "refuse" answers 400, "hang" never answers, "cut" drops the
// connection before the node's first frame. It can also lose the
// answers of client publishes after the node handled them.
type gate struct {
	next http.Handler

	mu    sync.Mutex
	modes map[string]string

	losePublish atomic.Int32 // answers of client publishes (HTTP or gRPC) still to lose
	published   atomic.Int32 // client publishes the node handled
}

func (g *gate) set(path, mode string) {
	g.mu.Lock()
	g.modes[path] = mode
	g.mu.Unlock()
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	mode := g.modes[r.URL.Path]
	g.mu.Unlock()
	switch mode {
	case "refuse":
		http.Error(w, "refused by the test gate", http.StatusBadRequest)
		return
	case "hang":
		<-r.Context().Done()
		return
	case "cut":
		// A WebSocket upgrade is dropped unanswered; an SSE stream
		// starts and ends before its first event.
		if r.URL.Path == pathWS {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		return
	}
	if r.URL.Path == "/connection/publish" || r.URL.Path == pathGRPCPublish {
		g.published.Add(1)
		if g.losePublish.Add(-1) >= 0 {
			g.next.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "the answer was lost", http.StatusBadGateway)
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

const (
	pathWS   = "/connection/websocket"
	pathSSE  = "/connection/sse"
	pathPoll = "/connection/poll"
	// The gRPC client service's calls the tests block or lose.
	pathGRPCSubscribe = "/switchboard.v1.ClientService/Subscribe"
	pathGRPCPublish   = "/switchboard.v1.ClientService/Publish"
)

// token mints a token for user that expires after ttl.
func token(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(hmacSecret), "", auth.Claims{Subject: user, ExpiresAt: time.Now().Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testClient is a client with the test's defaults and a log of its states.
type testClient struct {
	*client.Client
	states *stateLog
	done   chan error
	stop   context.CancelFunc
}

// newClient builds a client for n with quick backoffs; opts fields that are
// set win. It is not running yet.
func (n *node) newClient(t *testing.T, opts client.Options) *testClient {
	t.Helper()
	tc := &testClient{states: &stateLog{}}
	if opts.Logger == nil {
		opts.Logger = logger()
	}
	setIfZero(&opts.MinBackoff, 10*time.Millisecond)
	setIfZero(&opts.MaxBackoff, 100*time.Millisecond)
	setIfZero(&opts.OpenTimeout, 2*time.Second)
	setIfZero(&opts.PingGrace, 2*time.Second)
	setIfZero(&opts.PollInterval, 50*time.Millisecond)
	setIfZero(&opts.RequestTimeout, 2*time.Second)
	if opts.UpgradeInterval == 0 {
		opts.UpgradeInterval = -1
	}
	opts.OnState = tc.states.add
	c, err := client.New(n.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	tc.Client = c
	return tc
}

func setIfZero(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// run starts Run; the test's cleanup stops it and waits for it.
func (tc *testClient) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tc.stop, tc.done = cancel, make(chan error, 1)
	go func() { tc.done <- tc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-tc.done:
			if err != nil {
				t.Logf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// runErr waits for Run to return by itself and returns its error.
func (tc *testClient) runErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-tc.done:
		tc.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// stateLog keeps every state a client reported.
type stateLog struct {
	mu  sync.Mutex
	all []client.State
}

func (l *stateLog) add(s client.State) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

// wait returns the first state from index from on that satisfies ok, and
// the index after it.
func (l *stateLog) wait(t *testing.T, from int, what string, ok func(client.State) bool) (client.State, int) {
	t.Helper()
	var found client.State
	testkit.EventuallyNil(t, testkit.Wait, "state "+what, func() error {
		all := l.snapshot()
		for i := from; i < len(all); i++ {
			if ok(all[i]) {
				found, from = all[i], i+1
				return nil
			}
		}
		return fmt.Errorf("states: %v", all)
	})
	return found, from
}

func (l *stateLog) snapshot() []client.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]client.State(nil), l.all...)
}

func connectedOver(tr client.Transport) func(client.State) bool {
	return func(s client.State) bool { return s.Status == client.Connected && s.Transport == tr }
}

func isDisconnected(s client.State) bool { return s.Status == client.Disconnected }

// next returns the subscription's next event, failing after 10s.
func next(t *testing.T, sub *client.Subscription) client.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("%s: Next: %v", sub.Channel(), err)
	}
	return ev
}

// subscribed waits for the subscription's next event, which must be
// Subscribed.
func subscribed(t *testing.T, sub *client.Subscription) client.Subscribed {
	t.Helper()
	ev := next(t, sub)
	s, ok := ev.(client.Subscribed)
	if !ok {
		t.Fatalf("%s: got %#v, want Subscribed", sub.Channel(), ev)
	}
	return s
}

// expectOffsets reads publications from..to, each once and in order. A
// Subscribed that recovered (a reconnection) is let through; anything else
// fails the test, so a gap, a repeat or a reordering is caught.
func expectOffsets(t *testing.T, sub *client.Subscription, from, to uint64) []client.Publication {
	t.Helper()
	var got []client.Publication
	for want := from; want <= to; {
		switch ev := next(t, sub).(type) {
		case client.Subscribed:
			if !ev.Recovered {
				t.Fatalf("%s: subscribed without recovery while waiting for offset %d", sub.Channel(), want)
			}
		case client.Publication:
			if ev.Offset != want {
				t.Fatalf("%s: offset %d, want %d", sub.Channel(), ev.Offset, want)
			}
			got = append(got, ev)
			want++
		default:
			t.Fatalf("%s: got %#v while waiting for offset %d", sub.Channel(), ev, want)
		}
	}
	return got
}

// noEvent checks that nothing is queued for a moment.
func noEvent(t *testing.T, sub *client.Subscription, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if ev, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: unexpected %#v, %v", sub.Channel(), ev, err)
	}
}

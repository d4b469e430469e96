package transporttest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// ShortHistory is how many publications a channel of the short namespace
// keeps, so a test can outrun its history.
const ShortHistory = 3

// Namespaces are chat, admin, private, news and short (which keeps
// [ShortHistory] publications per channel), all without presence. What each
// allows is [testkit.Policy]'s to say.
func Namespaces(t testing.TB) *stream.Namespaces {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat"}, {Name: "admin"}, {Name: "private"}, {Name: "news"},
		{Name: "short", HistorySize: ShortHistory},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// PresenceNamespaces are chat (presence, with join and leave events),
// admin (presence, no events) and news (no presence), for the tests of
// presence; what each allows is [testkit.Policy]'s to say.
func PresenceNamespaces(t testing.TB) *stream.Namespaces {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Presence: true, JoinLeave: true}, {Name: "news"}, {Name: "admin", Presence: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// Config is what [Start] runs.
type Config struct {
	// Hub configures the hub. A nil Broker is a fresh memory broker, nil
	// Namespaces are [Namespaces], a nil Policy is [testkit.Policy].
	Hub hub.Config
	// Handler builds what the server serves, for the running hub.
	Handler func(h *hub.Hub) http.Handler
	// TLS serves HTTP/2 over TLS instead of HTTP/1.1 in the clear.
	TLS bool
	// Drain, if set, waits for the handler's own connections to end once
	// the hub has shut down, before the server closes: a handler whose
	// connections outlive their sessions says so here.
	Drain func(ctx context.Context) error
}

// Node is a running hub and the server in front of it.
type Node struct {
	Hub    *hub.Hub
	Server *httptest.Server
}

// Start runs cfg's hub ([RunHub]) and serves its handler until t ends. At
// the end it shuts the hub down, failing t if a session is still open after
// five seconds, then drains the handler, closes the server and stops the
// hub.
func Start(t testing.TB, cfg Config) *Node {
	t.Helper()
	hc := cfg.Hub
	if hc.Namespaces == nil {
		hc.Namespaces = Namespaces(t)
	}
	if hc.Policy == nil {
		hc.Policy = testkit.Policy{}
	}
	h := RunHub(t, hc)
	srv := httptest.NewUnstartedServer(cfg.Handler(h))
	if cfg.TLS {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := h.Shutdown(sctx, 0); err != nil {
			t.Errorf("sessions still open: %v", err)
		}
		if cfg.Drain != nil {
			if err := cfg.Drain(sctx); err != nil {
				t.Errorf("connections still open: %v", err)
			}
		}
		srv.Close()
	})
	return &Node{Hub: h, Server: srv}
}

// RunHub builds a hub from cfg, on a fresh memory broker if cfg has none,
// and runs it until t ends, failing t if Run returns an error. Cleanups
// run last first, so what the test registers after RunHub (a server in
// front of the hub, sessions) ends while the hub still runs.
func RunHub(t testing.TB, cfg hub.Config) *hub.Hub {
	t.Helper()
	if cfg.Broker == nil {
		cfg.Broker = memory.New(memory.Config{})
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub.Run: %v", err)
		}
	})
	return h
}

// Publish publishes data (JSON) on ch through the hub, as the HTTP API
// does, and fails t if the hub refuses it.
func (n *Node) Publish(t testing.TB, ch, data string) stream.PublishResult {
	t.Helper()
	res, err := n.Hub.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// PublishN publishes count publications {"i":0}, {"i":1}... on ch through
// h, as the HTTP API does, and returns their results in order. It fails t
// if the hub refuses one.
func PublishN(t testing.TB, h *hub.Hub, ch string, count int) []stream.PublishResult {
	t.Helper()
	out := make([]stream.PublishResult, 0, count)
	for i := range count {
		res, err := h.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

// PublishConcurrently has publishers goroutines publish each publications
// apiece to ch, with data from a few bytes to 60 KB (so a write to a full
// socket often ends inside a frame or an event), closes half once half of
// them are published, and returns when all are.
func PublishConcurrently(t testing.TB, h *hub.Hub, ch string, publishers, each int, half chan struct{}) {
	t.Helper()
	total := publishers * each
	var published sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for p := range publishers {
		published.Add(1)
		go func() {
			defer published.Done()
			for i := range each {
				pad := strings.Repeat("x", (p*each+i)*997%(60<<10))
				data := fmt.Sprintf(`{"p":%d,"i":%d,"pad":%q}`, p, i, pad)
				if _, err := h.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(data)}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				done++
				if done == total/2 {
					close(half)
				}
				mu.Unlock()
			}
		}()
	}
	published.Wait()
}

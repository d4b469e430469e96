package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	apiKey     = "test-api-key"
	hmacSecret = "test-hmac-secret"
	// maxMessage is the nodes' MaxMessageSize: small, so oversize tests
	// send little.
	maxMessage = 1024
)

var quiet = slog.New(slog.DiscardHandler)

// node is one running server on 127.0.0.1:0 with a real hub and memory
// broker. Cleanup shuts it down and waits for every goroutine.
type node struct {
	t    *testing.T
	hub  *hub.Hub
	srv  *server.Server
	base string // http://127.0.0.1:port

	stop     context.CancelFunc
	served   chan error
	stopped  bool
	verifier *auth.Verifier
}

func newNode(t *testing.T, opts ...func(*server.Config)) *node {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: []string{hmacSecret}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		APIKey:        apiKey,
		Verifier:      v,
		ShutdownDrain: 10 * time.Millisecond,
		Version:       "v-test",
		BrokerKind:    "memory",
		Logger:        quiet,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Hub == nil {
		ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
			{Name: "chat", Publish: stream.AccessAnyone},
			{Name: "small", HistorySize: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Hub = runHub(t, hub.Config{Namespaces: ns, MaxMessageSize: maxMessage})
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, hub: cfg.Hub, srv: srv, base: "http://" + ln.Addr().String(), verifier: v}

	ctx, stop := context.WithCancel(context.Background())
	n.stop, n.served = stop, make(chan error, 1)
	go func() { n.served <- srv.Serve(ctx, ln) }()
	// Registered after runHub's: the server shuts down before its hub
	// stops running.
	t.Cleanup(func() {
		n.shutdown()
		v.Close()
	})
	return n
}

// withHub gives a node a hub built from cfg instead of the default one.
func withHub(t *testing.T, cfg hub.Config) func(*server.Config) {
	return func(c *server.Config) { c.Hub = runHub(t, cfg) }
}

// runHub runs a hub built from cfg (on the memory broker, with auth's
// policy and a quiet log unless cfg names its own) until the test ends.
func runHub(t *testing.T, cfg hub.Config) *hub.Hub {
	t.Helper()
	if cfg.Broker == nil {
		cfg.Broker = memory.New(memory.Config{Logger: quiet})
	}
	if cfg.Policy == nil {
		cfg.Policy = &auth.Policy{}
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	return transporttest.RunHub(t, cfg)
}

// shutdown stops Serve and returns its result; later calls return nil.
func (n *node) shutdown() error {
	n.t.Helper()
	if n.stopped {
		return nil
	}
	n.stopped = true
	n.stop()
	select {
	case err := <-n.served:
		return err
	case <-time.After(20 * time.Second):
		n.t.Fatal("Serve did not return after shutdown")
		return nil
	}
}

// response is an HTTP answer as the server's tests read it.
type response struct{ testkit.Response }

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// wantError checks a coded error response.
func (r response) wantError(t *testing.T, status int, code uint32) {
	t.Helper()
	testkit.WantError(t, r.Response, status, code)
}

// do sends a request; auth is the Authorization header ("" for none).
func (n *node) do(method, path, auth string, body string) response {
	n.t.Helper()
	req := testkit.NewRequest(n.t, method, n.base+path, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return response{testkit.Do(n.t, nil, req)}
}

// api calls the HTTP API with the right key.
func (n *node) api(method, path, body string) response {
	n.t.Helper()
	return n.do(method, path, "apikey "+apiKey, body)
}

// publish publishes through the API and returns the offset.
func (n *node) publish(channel, data string) uint64 {
	n.t.Helper()
	r := n.api("POST", "/api/publish", `{"channel":"`+channel+`","data":`+data+`}`)
	if r.Status != http.StatusOK {
		n.t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var out struct{ Offset uint64 }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		n.t.Fatal(err)
	}
	return out.Offset
}

// client is a WebSocket client speaking protocol v1.
type client struct {
	t    *testing.T
	conn *wsclient.Conn
	id   int
}

// dial connects and sends connect; token "" connects anonymously.
func (n *node) dial(token string) *client {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := wsclient.Dial(ctx, "ws"+strings.TrimPrefix(n.base, "http")+"/connection/websocket", wsclient.Options{})
	if err != nil {
		n.t.Fatal(err)
	}
	c := &client{t: n.t, conn: conn}
	n.t.Cleanup(func() { conn.Close() })
	cmd := map[string]any{"type": "connect"}
	if token != "" {
		cmd["token"] = token
	}
	if r := c.call(cmd); r["error"] != nil {
		n.t.Fatalf("connect: %v", r["error"])
	}
	return c
}

// call sends a command and returns its reply, skipping pushes.
func (c *client) call(cmd map[string]any) map[string]any {
	c.t.Helper()
	c.id++
	cmd["id"] = c.id
	b, _ := json.Marshal(cmd)
	if err := c.conn.WriteText(b); err != nil {
		c.t.Fatal(err)
	}
	for {
		f := c.read()
		if id, ok := f["id"].(float64); ok && int(id) == c.id {
			return f
		}
	}
}

// read returns the next frame, answering pings.
func (c *client) read() map[string]any {
	c.t.Helper()
	_ = c.conn.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, payload, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var f map[string]any
		if err := json.Unmarshal(payload, &f); err != nil {
			c.t.Fatalf("frame %q: %v", payload, err)
		}
		if f["type"] == "ping" {
			_ = c.conn.WriteText([]byte(`{"type":"pong"}`))
			continue
		}
		return f
	}
}

func (c *client) subscribe(channel string) {
	c.t.Helper()
	if r := c.call(map[string]any{"type": "subscribe", "channel": channel}); r["error"] != nil {
		c.t.Fatalf("subscribe %s: %v", channel, r["error"])
	}
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(hmacSecret), "", auth.Claims{Subject: user, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestNewNeedsHub(t *testing.T) {
	if _, err := server.New(server.Config{}); err == nil {
		t.Fatal("New without a Hub succeeded")
	}
}

func TestShutdownFlipsReadiness(t *testing.T) {
	n := newNode(t)
	// A second handle on the same Server outlives the listener, so its
	// health can be asked after Serve returned.
	probe := &http.Server{Handler: n.srv.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	probeDone := make(chan error, 1)
	go func() { probeDone <- probe.Serve(ln) }()
	t.Cleanup(func() {
		probe.Close()
		<-probeDone
	})
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if got := get("/healthz"); got != 200 {
		t.Fatalf("healthz before shutdown: %d", got)
	}
	if got := get("/readyz"); got != 200 {
		t.Fatalf("readyz before shutdown: %d", got)
	}

	c := n.dial("")
	c.subscribe("chat:room")
	if err := n.shutdown(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The client was told to come back elsewhere before the close.
	var f map[string]any
	for f = c.read(); f["type"] != "disconnect"; f = c.read() {
	}
	if f["reconnect"] != true || f["code"] != float64(3001) {
		t.Errorf("disconnect frame %v, want code 3001 with reconnect", f)
	}

	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz after shutdown: %d, want 503", got)
	}
	if got := get("/healthz"); got != 200 {
		t.Errorf("healthz after shutdown: %d, want 200", got)
	}
	if n.hub.Sessions() != 0 {
		t.Errorf("%d sessions left after shutdown", n.hub.Sessions())
	}
	if _, err := http.Get(n.base + "/healthz"); err == nil {
		t.Error("the listener still accepts after shutdown")
	}
}

func TestServeTwice(t *testing.T) {
	n := newNode(t)
	// An answer proves the first Serve has begun.
	if r := n.do("GET", "/healthz", "", ""); r.Status != 200 {
		t.Fatalf("healthz: %d", r.Status)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.srv.Serve(ctx, ln); err == nil {
		t.Fatal("second Serve succeeded")
	}
}

func TestStaticPages(t *testing.T) {
	n := newNode(t)
	for path, want := range map[string]string{
		"/":                   "Switchboard",
		"/chat.html":          "/sdk/switchboard.js",
		"/dashboard.html":     "/sdk/switchboard.js",
		"/lab.html":           "/sdk/switchboard.js",
		"/demo.js":            "export function",
		"/sdk/switchboard.js": "Switchboard client SDK",
		"/style.css":          "font-family",
	} {
		r := n.do("GET", path, "", "")
		if r.Status != 200 || !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("GET %s: %d, body without %q", path, r.Status, want)
		}
	}
	if r := n.do("GET", "/nope.html", "", ""); r.Status != 404 {
		t.Errorf("GET /nope.html: %d, want 404", r.Status)
	}
	r := n.do("POST", "/", "", "x")
	r.wantError(t, http.StatusMethodNotAllowed, 107)
}

func TestHealthMethods(t *testing.T) {
	n := newNode(t)
	r := n.do("POST", "/healthz", "", "")
	r.wantError(t, http.StatusMethodNotAllowed, 107)
	if got := r.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q, want \"GET, HEAD\"", got)
	}
	if r := n.do("HEAD", "/readyz", "", ""); r.Status != 200 {
		t.Errorf("HEAD /readyz: %d", r.Status)
	}
}

func TestDebugEndpoints(t *testing.T) {
	for _, on := range []bool{false, true} {
		n := newNode(t, func(c *server.Config) { c.DebugEndpoints = on })
		r := n.api(http.MethodPost, "/debug/gc", "")
		if !on {
			if r.Status == http.StatusOK {
				t.Error("debug endpoints served while off")
			}
			continue
		}
		if r.Status != http.StatusOK || r.json(t)["heap_inuse"].(float64) == 0 {
			t.Errorf("debug/gc: %d %s", r.Status, r.Body)
		}
		if r := n.do(http.MethodPost, "/debug/gc", "", ""); r.Status != http.StatusUnauthorized {
			t.Errorf("debug/gc without the API key: %d", r.Status)
		}
	}
}

package command_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/command"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tokens accepts "good:<user>" and refuses "expired:<user>" as expired;
// anything else is an invalid token.
type tokens struct{}

func (tokens) Verify(token string) (stream.Identity, error) {
	switch kind, user, _ := strings.Cut(token, ":"); kind {
	case "good":
		return stream.Identity{User: user, ExpiresAt: time.Now().Add(time.Hour)}, nil
	case "expired":
		return stream.Identity{}, fmt.Errorf("%w: exp in the past", stream.ErrTokenExpired)
	default:
		return stream.Identity{}, fmt.Errorf("%w: unknown token", stream.ErrInvalidToken)
	}
}

// rules forbids admin:*, keeps private:* to signed-in users, and lets
// clients publish on chat:* only.
type rules struct{}

func (rules) Allow(id *stream.Identity, a stream.Action, ch string, _ *stream.Namespace) error {
	if strings.HasPrefix(ch, "admin:") || strings.HasPrefix(ch, "private:") && id.Anonymous() ||
		a == stream.ActionPublish && !strings.HasPrefix(ch, "chat:") {
		return fmt.Errorf("%w: %s %s", stream.ErrPermissionDenied, a, ch)
	}
	return nil
}

// node is a hub on the memory broker with the three endpoints mounted on
// the paths the server gives them.
type node struct {
	hub *hub.Hub
	url string
}

// startNode runs cfg's hub (chat, admin, private, news and a short history
// namespace unless cfg names its own; rules unless it has a policy) and
// the endpoints with ccfg (tokens unless it has a verifier).
func startNode(t *testing.T, cfg hub.Config, ccfg command.Config) *node {
	t.Helper()
	cfg.Broker = memory.New(memory.Config{})
	if cfg.Namespaces == nil {
		ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
			{Name: "chat"}, {Name: "admin"}, {Name: "private"}, {Name: "news"}, {Name: "short", HistorySize: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Namespaces = ns
	}
	if cfg.Policy == nil {
		cfg.Policy = rules{}
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx) }()
	ccfg.Hub = h
	if ccfg.Verifier == nil {
		ccfg.Verifier = tokens{}
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/publish", command.NewPublish(ccfg))
	mux.Handle("/connection/presence", command.NewPresence(ccfg))
	mux.Handle("/connection/history", command.NewHistory(ccfg))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("hub.Run: %v", err)
		}
	})
	return &node{hub: h, url: srv.URL}
}

// publish publishes count messages {"i":k} on ch straight into the hub and
// returns the last position.
func (n *node) publish(t *testing.T, ch string, count int) stream.Position {
	t.Helper()
	var pos stream.Position
	for i := range count {
		res, err := n.hub.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends method path (with its query) and body, edited by edit, and
// reads the whole response.
func (n *node) call(t *testing.T, method, path, body string, edit ...func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		if e != nil {
			e(req)
		}
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// ok checks a successful reply's status and headers and decodes its body,
// refusing fields v does not have.
func (r response) ok(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	h := r.header
	if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", h)
	}
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// wantError checks a coded error response.
func wantError(t *testing.T, r response, status int, code uint32) {
	t.Helper()
	var body struct {
		Error struct {
			Code    uint32 `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	if r.status != status || body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("got %d %s, want status %d code %d", r.status, r.body, status, code)
	}
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

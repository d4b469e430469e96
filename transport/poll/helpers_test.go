package poll_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeVerifier accepts "good:<user>" and refuses "expired:<user>" as expired;
// anything else is an invalid token.
type fakeVerifier struct{}

func (fakeVerifier) Verify(token string) (stream.Identity, error) {
	kind, user, _ := strings.Cut(token, ":")
	switch kind {
	case "good":
		return stream.Identity{User: user, ExpiresAt: time.Now().Add(time.Hour)}, nil
	case "expired":
		return stream.Identity{}, fmt.Errorf("%w: exp in the past", stream.ErrTokenExpired)
	}
	return stream.Identity{}, fmt.Errorf("%w: unknown token", stream.ErrInvalidToken)
}

// policy forbids admin:*, keeps private:* to signed-in users, and lets
// clients publish on chat:* only.
type policy struct{}

func (policy) Allow(id *stream.Identity, a stream.Action, ch string, _ *stream.Namespace) error {
	switch {
	case strings.HasPrefix(ch, "admin:"),
		strings.HasPrefix(ch, "private:") && id.Anonymous(),
		a == stream.ActionPublish && !strings.HasPrefix(ch, "chat:"):
		return fmt.Errorf("%w: %s %s", stream.ErrPermissionDenied, a, ch)
	}
	return nil
}

type node struct {
	hub    *hub.Hub
	url    string
	client *http.Client
}

// startNode runs a hub on the memory broker with the handler mounted as the
// server mounts it.
func startNode(t testing.TB, cfg hub.Config, pcfg poll.Config) *node {
	t.Helper()
	cfg.Broker = memory.New(memory.Config{})
	if cfg.Namespaces == nil {
		ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
			{Name: "chat"}, {Name: "admin"}, {Name: "private"}, {Name: "news"},
			{Name: "short", HistorySize: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Namespaces = ns
	}
	if cfg.Policy == nil {
		cfg.Policy = policy{}
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = h.Run(ctx) }()
	pcfg.Hub = h
	if pcfg.Verifier == nil {
		pcfg.Verifier = fakeVerifier{}
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/poll", poll.New(pcfg))
	srv := httptest.NewServer(mux)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := h.Shutdown(sctx, 0); err != nil {
			t.Errorf("sessions still open: %v", err)
		}
		tr.CloseIdleConnections()
		srv.Close()
		cancel()
		<-runDone
	})
	return &node{hub: h, url: srv.URL, client: &http.Client{Transport: tr}}
}

// publish publishes n messages {"i":k} on ch through the HTTP API's path
// into the hub and returns the last position.
func (n *node) publish(t testing.TB, ch string, count int) stream.Position {
	t.Helper()
	var pos stream.Position
	for i := 0; i < count; i++ {
		res, err := n.hub.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

// wirePub is a publication as a poll reply carries it.
type wirePub struct {
	Channel string             `json:"channel"`
	Epoch   string             `json:"epoch"`
	Offset  uint64             `json:"offset"`
	Data    json.RawMessage    `json:"data"`
	Time    int64              `json:"time"`
	Key     string             `json:"key"`
	Info    *stream.ClientInfo `json:"info"`
}

type pollReply struct {
	Publications []wirePub `json:"publications"`
	Cursor       string    `json:"cursor"`
	Recovered    bool      `json:"recovered"`
	Gaps         []string  `json:"gaps"`
	Client       string    `json:"client"`
}

// position reads one channel's position from the reply's cursor.
func (r pollReply) position(t testing.TB, ch string) stream.Position {
	t.Helper()
	c, err := stream.ParseCursor(r.Cursor)
	if err != nil {
		t.Fatalf("reply cursor %q: %v", r.Cursor, err)
	}
	p, ok := c.Get(ch)
	if !ok {
		t.Fatalf("reply cursor has no position for %s", ch)
	}
	return p
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request and reads the whole response.
func (n *node) do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := n.client.Do(req)
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

func (n *node) get(t testing.TB, query string, edit ...func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.url+"/connection/poll?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(req)
	}
	return n.do(t, req)
}

// poll sends a poll that must succeed and checks the reply's exact shape.
func (n *node) poll(t testing.TB, q url.Values, edit ...func(*http.Request)) pollReply {
	t.Helper()
	return decodeReply(t, n.get(t, q.Encode(), edit...))
}

func decodeReply(t testing.TB, r response) pollReply {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("poll: status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("reply %s: %v", r.body, err)
	}
	if len(fields) != 5 {
		t.Fatalf("reply has fields other than publications, cursor, recovered, gaps, client: %s", r.body)
	}
	if v := fields["client"]; len(v) < 3 || v[0] != '"' {
		t.Fatalf("reply field client is %s, want a client id: %s", v, r.body)
	}
	for _, k := range []string{"publications", "gaps"} {
		if v := fields[k]; len(v) == 0 || v[0] != '[' {
			t.Fatalf("reply field %s is %s, want an array: %s", k, v, r.body)
		}
	}
	var out pollReply
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("reply %s: %v", r.body, err)
	}
	return out
}

// wantError checks a coded error response.
func wantError(t testing.TB, r response, status int, code uint32) {
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

// values builds a query: key, value, key, value...
func values(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

func cursorOf(positions map[string]stream.Position) string {
	var c stream.Cursor
	for ch, p := range positions {
		c.Set(ch, p)
	}
	return c.String()
}

// eventually waits for cond, failing the test after a deadline. It is how
// tests wait for the hub to reach a state, instead of sleeping.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waiting waits until n long polls hold, subscribed, in the hub.
func (n *node) waiting(t testing.TB, polls int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d held polls", polls), func() bool {
		st := n.hub.Stats()
		return st.Sessions[poll.TransportLongPoll] == int64(polls) && st.Subscriptions >= int64(polls)
	})
}

// async runs a poll in the background; its reply arrives on the channel.
func (n *node) async(t testing.TB, q url.Values, edit ...func(*http.Request)) <-chan response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.url+"/connection/poll?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(req)
	}
	out := make(chan response, 1)
	go func() {
		resp, err := n.client.Do(req)
		if err != nil {
			out <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out <- response{status: resp.StatusCode, header: resp.Header, body: body}
	}()
	return out
}

func await(t testing.TB, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("poll did not answer")
		return response{}
	}
}

func newRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}

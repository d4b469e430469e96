package poll_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	*transporttest.Node
	url     string
	client  *http.Client
	handler *poll.Handler
}

// startNode runs a hub on the memory broker with the handler mounted as the
// server mounts it.
func startNode(t testing.TB, cfg hub.Config, pcfg poll.Config) *node {
	t.Helper()
	var handler *poll.Handler
	n := transporttest.Start(t, transporttest.Config{Hub: cfg, Handler: func(h *hub.Hub) http.Handler {
		pcfg.Hub = h
		if pcfg.Verifier == nil {
			pcfg.Verifier = testkit.Verifier{}
		}
		handler = poll.New(pcfg)
		mux := http.NewServeMux()
		mux.Handle("/connection/poll", handler)
		// The same handler where the connection cannot be hijacked: a
		// long poll waits in its request, as over HTTP/2.
		mux.Handle("/plain/poll", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handler.ServeHTTP(headerOnly{w}, r)
		}))
		return mux
	}, Drain: func(ctx context.Context) error { return handler.Wait(ctx) }})
	// Registered after Start's cleanup, so it runs first: the client's idle
	// connections go before the server closes.
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &node{Node: n, url: n.Server.URL, client: &http.Client{Transport: tr}, handler: handler}
}

// publish publishes count messages {"i":k} on ch through the HTTP API's
// path into the hub and returns the last position.
func (n *node) publish(t testing.TB, ch string, count int) stream.Position {
	t.Helper()
	res := transporttest.PublishN(t, n.Hub, ch, count)
	return res[len(res)-1].Position
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

func (n *node) get(t testing.TB, query string, edit ...func(*http.Request)) testkit.Response {
	t.Helper()
	return n.do(t, testkit.NewRequest(t, http.MethodGet, n.url+"/connection/poll?"+query, "", edit...))
}

// do sends a request with the node's client and reads the whole response.
func (n *node) do(t testing.TB, req *http.Request) testkit.Response {
	t.Helper()
	return testkit.Do(t, n.client, req)
}

// poll sends a poll that must succeed and checks the reply's exact shape.
func (n *node) poll(t testing.TB, q url.Values, edit ...func(*http.Request)) pollReply {
	t.Helper()
	return decodeReply(t, n.get(t, q.Encode(), edit...))
}

func decodeReply(t testing.TB, r testkit.Response) pollReply {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("poll: status %d: %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &fields); err != nil {
		t.Fatalf("reply %s: %v", r.Body, err)
	}
	if len(fields) != 5 {
		t.Fatalf("reply has fields other than publications, cursor, recovered, gaps, client: %s", r.Body)
	}
	if v := fields["client"]; len(v) < 3 || v[0] != '"' {
		t.Fatalf("reply field client is %s, want a client id: %s", v, r.Body)
	}
	for _, k := range []string{"publications", "gaps"} {
		if v := fields[k]; len(v) == 0 || v[0] != '[' {
			t.Fatalf("reply field %s is %s, want an array: %s", k, v, r.Body)
		}
	}
	var out pollReply
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("reply %s: %v", r.Body, err)
	}
	return out
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

// waiting waits until n long polls hold, subscribed, in the hub.
func (n *node) waiting(t testing.TB, polls int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d held polls", polls), func() bool {
		st := n.Hub.Stats()
		return st.Sessions[poll.TransportLongPoll] == int64(polls) && st.Subscriptions >= int64(polls)
	})
}

// async runs a poll in the background; its reply arrives on the channel.
func (n *node) async(t testing.TB, q url.Values, edit ...func(*http.Request)) <-chan testkit.Response {
	t.Helper()
	req := testkit.NewRequest(t, http.MethodGet, n.url+"/connection/poll?"+q.Encode(), "", edit...)
	out := make(chan testkit.Response, 1)
	go func() {
		resp, err := n.client.Do(req)
		if err != nil {
			out <- testkit.Response{Status: -1, Body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out <- testkit.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	}()
	return out
}

func await(t testing.TB, ch <-chan testkit.Response) testkit.Response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(testkit.Wait):
		t.Fatalf("poll did not answer within %v", testkit.Wait)
		return testkit.Response{}
	}
}

func newRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}

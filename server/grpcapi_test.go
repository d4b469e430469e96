package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/internal/grpcerr"
	"github.com/switchboardhq/switchboard/internal/selfsigned"
	"github.com/switchboardhq/switchboard/internal/testkit"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

// rpcNode is a node with an APIService client speaking one protocol, and
// an HTTP client for the same node, so that a test asks the same question
// both ways.
type rpcNode struct {
	*node
	base string
	hc   *http.Client
	rpc  switchboardv1connect.APIServiceClient
	opts []connect.ClientOption // the protocol's
}

// protocols runs f against a node per protocol: Connect and gRPC-Web over
// HTTP/1.1, and gRPC over HTTP/2 on a TLS node (what h2c will do on plain
// TCP). ws says f dials WebSocket clients, which the TLS node does not
// take here; those run on Connect and gRPC-Web.
func protocols(t *testing.T, ws bool, f func(t *testing.T, n *rpcNode), opts ...func(*server.Config)) {
	for _, p := range []struct {
		name string
		opts []connect.ClientOption
		tls  bool
	}{
		{"connect", nil, false},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}, false},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}, true},
	} {
		if ws && p.tls {
			continue
		}
		t.Run(p.name, func(t *testing.T) {
			o := opts
			hc := &http.Client{Timeout: 10 * time.Second}
			if p.tls {
				cert, key, pool, err := selfsigned.Write(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				o = append(o[:len(o):len(o)], func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
				hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
			}
			n := newNode(t, o...)
			base := n.base
			if p.tls {
				base = "https://" + strings.TrimPrefix(n.base, "http://")
			}
			t.Cleanup(hc.CloseIdleConnections)
			f(t, &rpcNode{node: n, base: base, hc: hc, rpc: switchboardv1connect.NewAPIServiceClient(hc, base, p.opts...), opts: p.opts})
		})
	}
}

// call is req with the API key in its metadata.
func call[T any](msg *T) *connect.Request[T] {
	return withAuth(msg, "apikey "+apiKey)
}

func withAuth[T any](msg *T, auth string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if auth != "" {
		req.Header().Set("Authorization", auth)
	}
	return req
}

// http calls the HTTP API of the same node with the key.
func (n *rpcNode) http(method, path, body string) response {
	n.t.Helper()
	return n.httpAuth(method, path, "apikey "+apiKey, body)
}

func (n *rpcNode) httpAuth(method, path, auth, body string) response {
	n.t.Helper()
	req := testkit.NewRequest(n.t, method, n.base+path, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return response{testkit.Do(n.t, n.hc, req)}
}

// answer is a call's outcome, so that ok(client.Call(...)).must(t) reads in
// one line.
type answer[T any] struct {
	res *connect.Response[T]
	err error
}

func ok[T any](res *connect.Response[T], err error) answer[T] { return answer[T]{res, err} }

// must fails the test on the call's error and returns its message.
func (a answer[T]) must(t *testing.T) *T {
	t.Helper()
	if a.err != nil {
		t.Fatalf("call failed: %v", a.err)
	}
	return a.res.Msg
}

// sameJSON compares an answer of the gRPC service, put in the HTTP API's
// shape, with the HTTP API's body.
func sameJSON(t *testing.T, what string, grpc any, http response) {
	t.Helper()
	if http.Status != 200 {
		t.Fatalf("%s over HTTP: %d %s", what, http.Status, http.Body)
	}
	b, err := json.Marshal(grpc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(http.Body)), string(b)); diff != "" {
		t.Errorf("%s: gRPC and HTTP differ (-http +grpc):\n%s", what, diff)
	}
}

// historyJSON is a gRPC history page as the HTTP API encodes one.
func historyJSON(p *switchboardv1.HistoryPage) protocol.HistoryReply {
	page := stream.HistoryPage{Latest: stream.Position{Epoch: p.GetEpoch(), Offset: p.GetOffset()}}
	for _, pub := range p.GetPublications() {
		sp := &stream.Publication{Channel: pub.GetChannel(), Epoch: pub.GetEpoch(), Offset: pub.GetOffset(),
			Data: json.RawMessage(pub.GetData()), Time: pub.GetTime(), Key: pub.GetKey()}
		if i := pub.GetInfo(); i != nil {
			sp.Info = clientInfo(i)
		}
		page.Publications = append(page.Publications, sp)
	}
	return protocol.NewHistoryReply(p.GetChannel(), page)
}

func clientInfo(i *switchboardv1.ClientInfo) *stream.ClientInfo {
	c := &stream.ClientInfo{Client: i.GetClient(), User: i.GetUser()}
	if i.GetInfo() != "" {
		c.Info = json.RawMessage(i.GetInfo())
	}
	return c
}

func limit(n uint32) *uint32 { return &n }

func TestGRPCPublishAndHistory(t *testing.T) {
	protocols(t, false, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		// Published over gRPC, read over HTTP, and the other way round.
		res := ok(n.rpc.Publish(ctx, call(&switchboardv1.APIServicePublishRequest{Channel: "chat:h", Data: `{ "text" : "hi" }`}))).must(t)
		if res.GetResult().GetOffset() != 1 || res.GetResult().GetEpoch() == "" || res.GetResult().GetDuplicate() {
			t.Fatalf("publish: %v", res)
		}
		n.http("POST", "/api/publish", `{"channel":"chat:h","data":[1, 2],"key":"k-1"}`)
		// A client's publication carries its publisher in info.
		if r := n.httpAuth("POST", "/connection/publish", "Bearer "+token(t, "alice"), `{"channel":"chat:h","data":"from alice"}`); r.Status != 200 {
			t.Fatalf("client publish: %d %s", r.Status, r.Body)
		}
		for i := 0; i < 3; i++ {
			ok(n.rpc.Publish(ctx, call(&switchboardv1.APIServicePublishRequest{Channel: "small:x", Data: "null"}))).must(t)
		}

		epoch := res.GetResult().GetEpoch()
		for _, tc := range []struct {
			query string
			q     *switchboardv1.HistoryQuery
		}{
			{"channel=chat:h", nil},
			{"channel=chat:h&limit=2", &switchboardv1.HistoryQuery{Limit: limit(2)}},
			{"channel=chat:h&limit=2&reverse=true", &switchboardv1.HistoryQuery{Limit: limit(2), Reverse: true}},
			{"channel=chat:h&limit=0", &switchboardv1.HistoryQuery{Limit: limit(0)}},
			// The API caps a limit over the maximum rather than refuse it.
			{"channel=chat:h&limit=1001", &switchboardv1.HistoryQuery{Limit: limit(1001)}},
			{"channel=chat:h&since_epoch=" + epoch + "&since_offset=1", &switchboardv1.HistoryQuery{Since: &switchboardv1.Position{Epoch: epoch, Offset: 1}}},
			{"channel=chat:h&since_epoch=" + epoch, &switchboardv1.HistoryQuery{Since: &switchboardv1.Position{Epoch: epoch}}},
			{"channel=chat:h&since_epoch=other&since_offset=1", &switchboardv1.HistoryQuery{Since: &switchboardv1.Position{Epoch: "other", Offset: 1}}},
			{"channel=chat:never", nil},
			{"channel=small:x", nil},
		} {
			ch, _, _ := strings.Cut(strings.TrimPrefix(tc.query, "channel="), "&")
			page := ok(n.rpc.History(ctx, call(&switchboardv1.APIServiceHistoryRequest{Channel: ch, Query: tc.q}))).must(t).GetPage()
			sameJSON(t, tc.query, historyJSON(page), n.http("GET", "/api/history?"+tc.query, ""))
		}

		// Field by field, beyond the JSON: data as stored, compact; the key;
		// the publisher.
		pubs := ok(n.rpc.History(ctx, call(&switchboardv1.APIServiceHistoryRequest{Channel: "chat:h"}))).must(t).GetPage().GetPublications()
		if len(pubs) != 3 {
			t.Fatalf("history: %v", pubs)
		}
		if pubs[0].GetData() != `{"text":"hi"}` || pubs[1].GetData() != `[1,2]` || pubs[1].GetKey() != "k-1" || pubs[0].GetInfo() != nil {
			t.Errorf("publications: %v", pubs)
		}
		if pubs[2].GetInfo().GetUser() != "alice" || pubs[2].GetTime() == 0 || pubs[2].GetEpoch() != epoch || pubs[2].GetChannel() != "chat:h" {
			t.Errorf("client publication: %v", pubs[2])
		}
	})
}

func TestGRPCPublishKey(t *testing.T) {
	protocols(t, true, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		ws := n.dial("")
		ws.subscribe("chat:k")
		req := &switchboardv1.APIServicePublishRequest{Channel: "chat:k", Data: `{"n":1}`, Key: "order-42"}
		first := ok(n.rpc.Publish(ctx, call(req))).must(t).GetResult()
		again := ok(n.rpc.Publish(ctx, call(req))).must(t).GetResult()
		if first.GetOffset() != 1 || first.GetDuplicate() {
			t.Fatalf("first: %v", first)
		}
		if again.GetOffset() != first.GetOffset() || again.GetEpoch() != first.GetEpoch() || !again.GetDuplicate() {
			t.Fatalf("repeat: %v, want the first position with duplicate", again)
		}
		// The HTTP API knows the key too: one store behind both.
		sameJSON(t, "keyed publish over HTTP", protocol.PublishReply{Epoch: first.GetEpoch(), Offset: 1, Duplicate: true},
			n.http("POST", "/api/publish", `{"channel":"chat:k","data":{"n":1},"key":"order-42"}`))

		// One delivery: the next message after the keyed one is the marker.
		ok(n.rpc.Publish(ctx, call(&switchboardv1.APIServicePublishRequest{Channel: "chat:k", Data: `"marker"`}))).must(t)
		var got []any
		for len(got) < 2 {
			if f := ws.read(); f["type"] == "message" {
				got = append(got, f["offset"])
			}
		}
		if diff := cmp.Diff([]any{float64(1), float64(2)}, got); diff != "" {
			t.Errorf("deliveries (-want +got):\n%s", diff)
		}
	})
}

// broadcastJSON is a gRPC broadcast answer in the HTTP API's shape.
type broadcastJSON struct {
	Results []broadcastResultJSON `json:"results"`
}

type broadcastResultJSON struct {
	Channel   string          `json:"channel"`
	Epoch     string          `json:"epoch,omitempty"`
	Offset    uint64          `json:"offset,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Error     *protocol.Error `json:"error,omitempty"`
}

func TestGRPCBroadcast(t *testing.T) {
	protocols(t, false, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		n.http("POST", "/api/publish", `{"channel":"chat:b","data":0}`)
		channels := []string{"chat:a", "chat:b", "nope:x", "bad channel", "small:z"}
		res := ok(n.rpc.Broadcast(ctx, call(&switchboardv1.BroadcastRequest{Channels: channels, Data: `{"n":1}`, Key: "b-1"}))).must(t)
		var out broadcastJSON
		for _, r := range res.GetResults() {
			j := broadcastResultJSON{Channel: r.GetChannel()}
			if e := r.GetError(); e != nil {
				if r.GetResult() != nil {
					t.Errorf("%s: a result and an error", r.GetChannel())
				}
				j.Error = &protocol.Error{Code: e.GetCode(), Message: e.GetMessage()}
			} else {
				// The HTTP repeat below answers the same positions, as
				// duplicates.
				j.Epoch, j.Offset, j.Duplicate = r.GetResult().GetEpoch(), r.GetResult().GetOffset(), true
			}
			out.Results = append(out.Results, j)
		}
		want := []struct {
			channel string
			offset  uint64
			code    uint32
		}{{"chat:a", 1, 0}, {"chat:b", 2, 0}, {"nope:x", 0, 102}, {"bad channel", 0, 111}, {"small:z", 1, 0}}
		if len(out.Results) != len(want) {
			t.Fatalf("results: %v", res)
		}
		for i, w := range want {
			r := out.Results[i]
			code := uint32(0)
			if r.Error != nil {
				code = r.Error.Code
			}
			if r.Channel != w.channel || r.Offset != w.offset || code != w.code {
				t.Errorf("result %d: %+v, want %+v", i, r, w)
			}
		}
		body, _ := json.Marshal(map[string]any{"channels": channels, "data": map[string]int{"n": 1}, "key": "b-1"})
		sameJSON(t, "broadcast", out, n.http("POST", "/api/broadcast", string(body)))
	})
}

func TestGRPCPresence(t *testing.T) {
	protocols(t, true, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		ws := n.dial(token(t, "alice"))
		ws.subscribe("chat:p")
		resp, err := n.hc.Get(n.base + "/connection/sse?channel=chat:p&token=" + token(t, "bob"))
		if err != nil {
			t.Fatal(err)
		}
		sse := testkit.NewSSEStream(t, resp.Body)
		// The retry line, then the connected event.
		for ev := sse.Block(); ev.Event != "connected"; ev = sse.Block() {
		}
		testkit.Eventually(t, "both clients in presence", func() bool {
			return strings.Count(string(n.http("GET", "/api/presence?channel=chat:p", "").Body), `"client"`) == 2
		})
		res := ok(n.rpc.Presence(ctx, call(&switchboardv1.APIServicePresenceRequest{Channel: "chat:p"}))).must(t)
		var clients []stream.ClientInfo
		for _, c := range res.GetClients() {
			clients = append(clients, *clientInfo(c))
		}
		if len(clients) != 2 || clients[0].Client >= clients[1].Client {
			t.Errorf("presence not sorted by client: %v", clients)
		}
		sameJSON(t, "presence", protocol.NewPresenceReply(res.GetChannel(), clients), n.http("GET", "/api/presence?channel=chat:p", ""))
		sse.Close()
	}, func(c *server.Config) { c.Hub = presenceNode(t).hub })
}

// TestGRPCRefusals asks each bad question both ways: the gRPC status has
// the code of the HTTP API's status, and its details the HTTP API's
// project code and message.
func TestGRPCRefusals(t *testing.T) {
	big := `"` + strings.Repeat("x", maxMessage) + `"`
	type rpcCall func(context.Context, switchboardv1connect.APIServiceClient, string) error
	publish := func(ch, data string) rpcCall {
		return func(ctx context.Context, c switchboardv1connect.APIServiceClient, auth string) error {
			_, err := c.Publish(ctx, withAuth(&switchboardv1.APIServicePublishRequest{Channel: ch, Data: data}, auth))
			return err
		}
	}
	broadcast := func(data string, chs ...string) rpcCall {
		return func(ctx context.Context, c switchboardv1connect.APIServiceClient, auth string) error {
			_, err := c.Broadcast(ctx, withAuth(&switchboardv1.BroadcastRequest{Channels: chs, Data: data}, auth))
			return err
		}
	}
	history := func(ch string, q *switchboardv1.HistoryQuery) rpcCall {
		return func(ctx context.Context, c switchboardv1connect.APIServiceClient, auth string) error {
			_, err := c.History(ctx, withAuth(&switchboardv1.APIServiceHistoryRequest{Channel: ch, Query: q}, auth))
			return err
		}
	}
	info := func(ctx context.Context, c switchboardv1connect.APIServiceClient, auth string) error {
		_, err := c.Info(ctx, withAuth(&switchboardv1.InfoRequest{}, auth))
		return err
	}
	key := "apikey " + apiKey
	// own says the HTTP API cannot be asked the very same question, so
	// only the codes compare: a JSON body cannot carry invalid JSON data
	// without being malformed itself.
	cases := []struct {
		name               string
		auth               string
		rpc                rpcCall
		method, path, body string
		code               uint32
		own                bool
	}{
		{"missing key", "", publish("chat:a", "1"), "POST", "/api/publish", `{"channel":"chat:a","data":1}`, 101, false},
		{"wrong key", "apikey nope", info, "GET", "/api/info", ``, 101, false},
		{"wrong scheme", "Bearer " + apiKey, info, "GET", "/api/info", ``, 101, false},
		{"invalid JSON data", key, publish("chat:a", "tru"), "POST", "/api/publish", `{"channel":"chat:a","data":tru}`, 107, true},
		{"no data", key, publish("chat:a", ""), "POST", "/api/publish", `{"channel":"chat:a"}`, 107, false},
		{"data over the message size", key, publish("chat:a", big), "POST", "/api/publish", `{"channel":"chat:a","data":` + big + `}`, 112, false},
		{"bad channel name", key, publish("chat:a b", "1"), "POST", "/api/publish", `{"channel":"chat:a b","data":1}`, 111, false},
		{"unknown namespace", key, publish("nope:a", "1"), "POST", "/api/publish", `{"channel":"nope:a","data":1}`, 102, false},
		{"empty broadcast", key, broadcast("1"), "POST", "/api/broadcast", `{"channels":[],"data":1}`, 107, false},
		{"broadcast channel twice", key, broadcast("1", "chat:a", "chat:a"), "POST", "/api/broadcast", `{"channels":["chat:a","chat:a"],"data":1}`, 107, false},
		{"broadcast invalid data", key, broadcast("{", "chat:a"), "POST", "/api/broadcast", `{"channels":["chat:a"],"data":{}`, 107, true},
		{"broadcast data over the message size", key, broadcast(big, "chat:a"), "POST", "/api/broadcast", `{"channels":["chat:a"],"data":` + big + `}`, 112, false},
		{"history bad channel", key, history("a b", nil), "GET", "/api/history?channel=a%20b", ``, 111, false},
		{"history offset without epoch", key, history("chat:a", &switchboardv1.HistoryQuery{Since: &switchboardv1.Position{Offset: 3}}), "GET", "/api/history?channel=chat:a&since_offset=3", ``, 107, false},
		{"presence off", key, func(ctx context.Context, c switchboardv1connect.APIServiceClient, auth string) error {
			_, err := c.Presence(ctx, withAuth(&switchboardv1.APIServicePresenceRequest{Channel: "chat:a"}, auth))
			return err
		}, "GET", "/api/presence?channel=chat:a", ``, 108, false},
		{"disconnect without user", key, func(ctx context.Context, c switchboardv1connect.APIServiceClient, auth string) error {
			_, err := c.Disconnect(ctx, withAuth(&switchboardv1.DisconnectRequest{}, auth))
			return err
		}, "POST", "/api/disconnect", `{}`, 107, false},
	}
	protocols(t, false, func(t *testing.T, n *rpcNode) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := n.httpAuth(tc.method, tc.path, tc.auth, tc.body)
				want := protocol.Error{Code: tc.code}
				h.wantError(t, want.HTTPStatus(), tc.code)
				err := tc.rpc(context.Background(), n.rpc, tc.auth)
				if got := connect.CodeOf(err); got != grpcerr.Code(want) {
					t.Errorf("gRPC code %v, want %v (HTTP %d): %v", got, grpcerr.Code(want), want.HTTPStatus(), err)
				}
				got, found := grpcerr.FromError(err)
				if !found {
					t.Fatalf("no project error in the details of %v", err)
				}
				if got.Code != tc.code {
					t.Errorf("project code %d, want %d", got.Code, tc.code)
				}
				var httpErr struct{ Error protocol.Error }
				if err := json.Unmarshal(h.Body, &httpErr); err != nil {
					t.Fatal(err)
				}
				if !tc.own && got.Message != httpErr.Error.Message {
					t.Errorf("message %q, the HTTP API says %q", got.Message, httpErr.Error.Message)
				}
			})
		}
	})
}

func TestGRPCDisconnect(t *testing.T) {
	protocols(t, true, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		alice1 := n.dial(token(t, "alice"))
		alice2 := n.dial(token(t, "alice"))
		n.dial(token(t, "bob"))

		res := ok(n.rpc.Disconnect(ctx, call(&switchboardv1.DisconnectRequest{User: "alice"}))).must(t)
		if res.GetDisconnected() != 2 {
			t.Fatalf("disconnected %d, want 2", res.GetDisconnected())
		}
		for _, c := range []*client{alice1, alice2} {
			var f map[string]any
			for f = c.read(); f["type"] != "disconnect"; f = c.read() {
			}
			if f["code"] != float64(3502) || f["reconnect"] != false {
				t.Errorf("disconnect frame %v, want code 3502 without reconnect", f)
			}
		}
		testkit.Eventually(t, "alice's sessions to end", func() bool { return n.hub.Sessions() == 1 })
		// Nobody left to disconnect: 0 both ways, and for a user never seen.
		for _, user := range []string{"alice", "carol"} {
			res := ok(n.rpc.Disconnect(ctx, call(&switchboardv1.DisconnectRequest{User: user}))).must(t)
			sameJSON(t, "disconnect "+user, map[string]uint64{"disconnected": res.GetDisconnected()},
				n.http("POST", "/api/disconnect", `{"user":"`+user+`"}`))
		}
	})
}

func TestGRPCChannels(t *testing.T) {
	protocols(t, true, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		channels := func() []map[string]any {
			res := ok(n.rpc.Channels(ctx, call(&switchboardv1.ChannelsRequest{}))).must(t)
			out := []map[string]any{}
			for _, c := range res.GetChannels() {
				out = append(out, map[string]any{"name": c.GetName(), "subscribers": c.GetSubscribers()})
			}
			return out
		}
		sameJSON(t, "no channels", map[string]any{"channels": channels()}, n.http("GET", "/api/channels", ""))
		a, b := n.dial(""), n.dial("")
		a.subscribe("chat:two")
		b.subscribe("chat:two")
		a.subscribe("chat:one")
		b.subscribe("chat:three")
		got := channels()
		if len(got) != 3 || got[0]["name"] != "chat:one" || got[2]["subscribers"] != uint64(2) {
			t.Errorf("channels %v, want by name with their subscribers", got)
		}
		sameJSON(t, "channels", map[string]any{"channels": got}, n.http("GET", "/api/channels", ""))
	})
}

func TestGRPCInfo(t *testing.T) {
	protocols(t, true, func(t *testing.T, n *rpcNode) {
		ctx := context.Background()
		c := n.dial("")
		c.subscribe("chat:i")
		ok(n.rpc.Publish(ctx, call(&switchboardv1.APIServicePublishRequest{Channel: "chat:i", Data: "1"}))).must(t)
		if f := c.read(); f["type"] != "message" {
			t.Fatalf("want the message, got %v", f)
		}
		var h map[string]any
		if err := json.Unmarshal(n.http("GET", "/api/info", "").Body, &h); err != nil {
			t.Fatal(err)
		}
		in := ok(n.rpc.Info(ctx, call(&switchboardv1.InfoRequest{}))).must(t)
		started, err := time.Parse(time.RFC3339, h["started_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		sessions := map[string]any{}
		for k, v := range in.GetSessions() {
			sessions[k] = float64(v)
		}
		got := map[string]any{
			"version": in.GetVersion(), "go_version": in.GetGoVersion(), "broker": in.GetBroker(),
			"ready": in.GetReady(), "sessions": sessions,
			"subscriptions": float64(in.GetSubscriptions()), "channels": float64(in.GetChannels()),
			"publications": float64(in.GetPublications()), "deliveries": float64(in.GetDeliveries()),
			"replayed": float64(in.GetReplayed()), "queue_drops": float64(in.GetQueueDrops()),
		}
		for field, v := range got {
			if diff := cmp.Diff(h[field], v); diff != "" {
				t.Errorf("%s (-http +grpc):\n%s", field, diff)
			}
		}
		if in.GetStartedAt() != started.Unix() || in.GetStartedAt() == 0 {
			t.Errorf("started_at %d, the HTTP API says %s", in.GetStartedAt(), h["started_at"])
		}
		if in.GetUptimeSeconds() < int64(h["uptime_seconds"].(float64)) {
			t.Errorf("uptime went back: %d after %v", in.GetUptimeSeconds(), h["uptime_seconds"])
		}
		if in.GetVersion() != "v-test" || in.GetPublications() != 1 || in.GetSessions()["websocket"] != 1 || !in.GetReady() {
			t.Errorf("info %v", in)
		}
	})
}

// TestGRPCOversizeMessage sends a message over the API's body bound, plain
// and gzipped: refused as the HTTP API refuses such a body, with the
// project's code in the details, whichever protocol carries it.
func TestGRPCOversizeMessage(t *testing.T) {
	huge := `"` + strings.Repeat("x", maxMessage+70<<10) + `"`
	protocols(t, false, func(t *testing.T, n *rpcNode) {
		h := n.http("POST", "/api/publish", `{"channel":"chat:a","data":`+huge+`}`)
		h.wantError(t, http.StatusRequestEntityTooLarge, 112)
		for name, c := range map[string]switchboardv1connect.APIServiceClient{
			"plain": n.rpc,
			"gzip":  switchboardv1connect.NewAPIServiceClient(n.hc, n.base, append(n.opts, connect.WithSendGzip())...),
		} {
			_, err := c.Publish(context.Background(), call(&switchboardv1.APIServicePublishRequest{Channel: "chat:a", Data: huge}))
			got, found := grpcerr.FromError(err)
			if connect.CodeOf(err) != connect.CodeResourceExhausted || !found || got.Code != 112 {
				t.Errorf("%s: %v, details %+v (found %v); want resource_exhausted with code 112", name, err, got, found)
			}
		}
		// The node is unharmed: a call of the right size goes through.
		ok(n.rpc.Publish(context.Background(), call(&switchboardv1.APIServicePublishRequest{Channel: "chat:a", Data: "1"}))).must(t)
	})
}

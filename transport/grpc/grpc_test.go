package grpc_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	"github.com/switchboardhq/switchboard/stream"
	grpcsvc "github.com/switchboardhq/switchboard/transport/grpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	*transporttest.Node
}

// start runs a hub and the client service; with h2 over TLS with HTTP/2
// (what gRPC needs), else HTTP/1.1 in the clear.
func start(t *testing.T, cfg hub.Config, h2 bool) *node {
	t.Helper()
	n := transporttest.Start(t, transporttest.Config{Hub: cfg, TLS: h2, Handler: func(h *hub.Hub) http.Handler {
		path, handler := grpcsvc.New(grpcsvc.Config{Hub: h, Verifier: testkit.Verifier{}}).Handler()
		mux := http.NewServeMux()
		mux.Handle(path, handler)
		return mux
	}})
	return &node{n}
}

// protocols are the three ways a connect-go client calls, each on the
// HTTP version it is shown over: gRPC needs HTTP/2, gRPC-Web and Connect
// run on HTTP/1.1.
var protocols = []struct {
	name string
	h2   bool
	opts []connect.ClientOption
}{
	{"grpc", true, []connect.ClientOption{connect.WithGRPC()}},
	{"grpc-web", false, []connect.ClientOption{connect.WithGRPCWeb()}},
	{"connect", false, nil},
	{"connect-json", false, []connect.ClientOption{connect.WithProtoJSON()}},
}

func (n *node) client(opts []connect.ClientOption) switchboardv1connect.ClientServiceClient {
	return switchboardv1connect.NewClientServiceClient(n.Server.Client(), n.Server.URL, opts...)
}

func withToken[T any](m *T, token string) *connect.Request[T] {
	r := connect.NewRequest(m)
	if token != "" {
		r.Header().Set("Authorization", "Bearer "+token)
	}
	return r
}

type sub struct {
	t *testing.T
	s *connect.ServerStreamForClient[switchboardv1.SubscribeResponse]
}

func subscribe(t *testing.T, c switchboardv1connect.ClientServiceClient, token string, chans ...*switchboardv1.ChannelRequest) (*sub, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	s, err := c.Subscribe(ctx, withToken(&switchboardv1.SubscribeRequest{Channels: chans}, token))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Close() })
	return &sub{t: t, s: s}, nil
}

func ch(name string) *switchboardv1.ChannelRequest {
	return &switchboardv1.ChannelRequest{Channel: name}
}

// next is the next event but pings, or the error the stream ended with.
func (s *sub) next() (*switchboardv1.SubscribeResponse, error) {
	for s.s.Receive() {
		if s.s.Msg().GetPing() == nil {
			return s.s.Msg(), nil
		}
	}
	if err := s.s.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("stream ended with no error")
}

func (s *sub) must() *switchboardv1.SubscribeResponse {
	s.t.Helper()
	m, err := s.next()
	if err != nil {
		s.t.Fatalf("stream: %v", err)
	}
	return m
}

// open reads Connected and the Subscribed events.
func (s *sub) open(n int) {
	s.t.Helper()
	if s.must().GetConnected() == nil {
		s.t.Fatal("first event is not Connected")
	}
	for range n {
		if s.must().GetSubscribed() == nil {
			s.t.Fatal("want Subscribed")
		}
	}
}

// wantCode checks err's gRPC code and the project's code in its details.
func wantCode(t *testing.T, what string, err error, code connect.Code, project uint32) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Errorf("%s: %v, want a connect error", what, err)
		return
	}
	var got uint32
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if e, ok := v.(*switchboardv1.Error); ok {
				got = e.Code
			}
		}
	}
	if ce.Code() != code || got != project {
		t.Errorf("%s: %v with code %d in details, want %v and %d", what, ce.Code(), got, code, project)
	}
}

// TestProtocols: over gRPC, gRPC-Web and Connect (binary and JSON), a
// client subscribes, publishes twice with one key, gets one publication,
// and reads it back from history.
func TestProtocols(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			n := start(t, hub.Config{}, p.h2)
			c := n.client(p.opts)
			s, err := subscribe(t, c, "good:ann", ch("chat:p"))
			if err != nil {
				t.Fatal(err)
			}
			s.open(1)
			ctx := context.Background()
			var first *switchboardv1.PublishResult
			for i := range 2 {
				res, err := c.Publish(ctx, withToken(&switchboardv1.PublishRequest{Channel: "chat:p", Data: `{"n":1}`, Key: "k-1"}, "good:ann"))
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = res.Msg.Result
				} else if !res.Msg.Result.Duplicate || res.Msg.Result.Offset != first.Offset {
					t.Fatalf("second publish with the key: %v, want a duplicate of %v", res.Msg.Result, first)
				}
			}
			pub := s.must().GetPublication()
			if pub == nil || pub.Offset != first.Offset || pub.Data != `{"n":1}` || pub.Key != "k-1" || pub.Info.GetUser() != "ann" {
				t.Fatalf("publication %v, want offset %d from ann", pub, first.Offset)
			}
			again := n.Publish(t, "chat:p", `"next"`)
			if pub := s.must().GetPublication(); pub == nil || pub.Offset != again.Offset {
				t.Fatalf("after the duplicate: %v, want offset %d (one publication per key)", pub, again.Offset)
			}
			h, err := c.History(ctx, withToken(&switchboardv1.HistoryRequest{Channel: "chat:p"}, ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Msg.Page.Publications; len(got) != 2 || got[0].Offset != first.Offset {
				t.Fatalf("history %v", h.Msg.Page)
			}
		})
	}
}

// TestBadInput: every refusal is a status with the project's code in its
// details, on every protocol, and a subscriber on another stream goes on
// receiving everything.
func TestBadInput(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			n := start(t, hub.Config{MaxMessageSize: 1024}, p.h2)
			c := n.client(p.opts)
			canary, err := subscribe(t, c, "", ch("chat:canary"))
			if err != nil {
				t.Fatal(err)
			}
			canary.open(1)
			ctx := context.Background()

			subErr := func(token string, chans ...*switchboardv1.ChannelRequest) error {
				s, err := subscribe(t, c, token, chans...)
				if err != nil {
					return err
				}
				_, err = s.next()
				return err
			}
			wantCode(t, "forged token", subErr("forged", ch("chat:a")), connect.CodeUnauthenticated, 101)
			wantCode(t, "expired token", subErr("expired:ann", ch("chat:a")), connect.CodeUnauthenticated, 109)
			wantCode(t, "forbidden channel", subErr("good:ann", ch("admin:x")), connect.CodePermissionDenied, 103)
			wantCode(t, "missing token on a private channel", subErr("", ch("private:x")), connect.CodePermissionDenied, 103)
			wantCode(t, "invalid channel", subErr("", ch("bad channel")), connect.CodeInvalidArgument, 111)
			wantCode(t, "no channel", subErr(""), connect.CodeInvalidArgument, 107)
			wantCode(t, "position without epoch", subErr("", &switchboardv1.ChannelRequest{Channel: "chat:a", Since: &switchboardv1.Position{Offset: 3}}), connect.CodeInvalidArgument, 107)

			_, err = c.Publish(ctx, withToken(&switchboardv1.PublishRequest{Channel: "chat:a", Data: `"` + strings.Repeat("x", 2000) + `"`}, ""))
			wantCode(t, "oversize publish", err, connect.CodeResourceExhausted, 112)
			_, err = c.Publish(ctx, withToken(&switchboardv1.PublishRequest{Channel: "chat:a", Data: `{not json`}, ""))
			wantCode(t, "publish of bad JSON", err, connect.CodeInvalidArgument, 107)
			_, err = c.Publish(ctx, withToken(&switchboardv1.PublishRequest{Channel: "news:a", Data: `1`}, "good:ann"))
			wantCode(t, "publish where clients may not", err, connect.CodePermissionDenied, 103)
			over := uint32(1001)
			_, err = c.History(ctx, withToken(&switchboardv1.HistoryRequest{Channel: "chat:a", Query: &switchboardv1.HistoryQuery{Limit: &over}}, ""))
			wantCode(t, "history over the limit", err, connect.CodeInvalidArgument, 107)
			_, err = c.Refresh(ctx, withToken(&switchboardv1.RefreshRequest{Client: "nobody"}, "good:ann"))
			wantCode(t, "refresh of an unknown client", err, connect.CodeInvalidArgument, 115)

			off := n.Publish(t, "chat:canary", `"alive"`).Offset
			if pub := canary.must().GetPublication(); pub == nil || pub.Offset != off {
				t.Fatalf("canary: %v, want offset %d", pub, off)
			}
		})
	}
}

// TestPresenceJoinLeave: presence lists a stream's client, and a stream
// on a channel with join/leave on sees another client come and go.
func TestPresenceJoinLeave(t *testing.T) {
	n := start(t, hub.Config{
		Namespaces: transporttest.PresenceNamespaces(t), Presence: memory.NewPresence(memory.PresenceConfig{}),
		JoinLeaveInterval: 10 * time.Millisecond,
	}, false)
	c := n.client(nil)
	watcher, err := subscribe(t, c, "good:ann", ch("chat:room"))
	if err != nil {
		t.Fatal(err)
	}
	watcher.open(1)
	ctx, cancel := context.WithCancel(context.Background())
	bob, err := c.Subscribe(ctx, withToken(&switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{ch("chat:room")}}, "good:bob"))
	if err != nil {
		t.Fatal(err)
	}
	bob.Receive() // Connected: bob is in
	var join *switchboardv1.Join
	for join == nil {
		m := watcher.must()
		if j := m.GetJoin(); j != nil && j.Client.GetUser() == "bob" {
			join = j
		}
	}
	testkit.Eventually(t, "presence to list bob", func() bool {
		res, err := c.Presence(context.Background(), withToken(&switchboardv1.PresenceRequest{Channel: "chat:room"}, ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range res.Msg.Clients {
			if cl.User == "bob" && cl.Client == join.Client.Client {
				return true
			}
		}
		return false
	})
	cancel()
	bob.Close()
	for {
		if l := watcher.must().GetLeave(); l != nil && l.Client.GetUser() == "bob" {
			break
		}
	}
}

// TestRefresh: a new token for the same user replaces the stream's
// identity; a token for another user is refused.
func TestRefresh(t *testing.T) {
	n := start(t, hub.Config{}, false)
	c := n.client(nil)
	s, err := subscribe(t, c, "brief:ann", ch("chat:r"))
	if err != nil {
		t.Fatal(err)
	}
	client := s.must().GetConnected().GetClient()
	s.must()
	_, err = c.Refresh(context.Background(), withToken(&switchboardv1.RefreshRequest{Client: client}, "good:bob"))
	wantCode(t, "refresh as another user", err, connect.CodeUnauthenticated, 101)
	res, err := c.Refresh(context.Background(), withToken(&switchboardv1.RefreshRequest{Client: client}, "good:ann"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Expires <= time.Now().Unix() {
		t.Fatalf("expires %d", res.Msg.Expires)
	}
	off := n.Publish(t, "chat:r", `1`).Offset
	if pub := s.must().GetPublication(); pub == nil || pub.Offset != off {
		t.Fatalf("after refresh: %v", pub)
	}
}

// TestOrigin: a browser's call from an origin the allow-list refuses is
// PermissionDenied with code 116.
func TestOrigin(t *testing.T) {
	n := start(t, hub.Config{}, false)
	req, _ := http.NewRequest(http.MethodPost, n.Server.URL+"/switchboard.v1.ClientService/Publish", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := n.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403 (permission_denied)", resp.StatusCode)
	}
	_ = stream.ErrOriginNotAllowed
}

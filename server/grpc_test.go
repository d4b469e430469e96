package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/selfsigned"
	"github.com/switchboardhq/switchboard/internal/testkit"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

// The gRPC tests drive the node with grpc-go, a client the project did not
// write: h2c on the plain listener, HTTP/2 over TLS, reflection and health.

const subscribeMethod = "/switchboard.v1.ClientService/Subscribe"

func dialGRPC(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// grpcStream is one Subscribe call.
type grpcStream struct {
	t      *testing.T
	s      grpc.ClientStream
	cancel context.CancelFunc
}

func subscribeGRPC(t *testing.T, conn *grpc.ClientConn, req *switchboardv1.SubscribeRequest, opts ...grpc.CallOption) *grpcStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, subscribeMethod, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(req); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	return &grpcStream{t: t, s: s, cancel: cancel}
}

// next reads one event, skipping pings.
func (g *grpcStream) next() (*switchboardv1.SubscribeResponse, error) {
	for {
		m := new(switchboardv1.SubscribeResponse)
		if err := g.s.RecvMsg(m); err != nil {
			return nil, err
		}
		if m.GetPing() == nil {
			return m, nil
		}
	}
}

func (g *grpcStream) must() *switchboardv1.SubscribeResponse {
	g.t.Helper()
	m, err := g.next()
	if err != nil {
		g.t.Fatalf("stream: %v", err)
	}
	return m
}

// detail is the project's error in a status's details.
func detail(t *testing.T, err error) (codes.Code, uint32) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v is not a gRPC status", err)
	}
	for _, d := range st.Details() {
		if e, ok := d.(*switchboardv1.Error); ok {
			return st.Code(), e.Code
		}
	}
	t.Fatalf("status %v carries no switchboard.v1.Error in its details", st)
	return 0, 0
}

func addrOf(n *node) string { return n.base[len("http://"):] }

// TestGRPCSubscribeResumeH2C: a grpc-go client on plain TCP (h2c, HTTP/2
// with prior knowledge) subscribes to two channels, is cut, and resumes
// from the positions it had: every offset once and in order.
func TestGRPCSubscribeResumeH2C(t *testing.T) {
	n := newNode(t)
	conn := dialGRPC(t, addrOf(n), insecure.NewCredentials())
	for range 3 {
		n.publish("chat:a", `"a"`)
	}
	n.publish("chat:b", `"b1"`)
	first := n.publish("chat:b", `"b2"`)

	g := subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "chat:a"}, {Channel: "chat:b"}}})
	if c := g.must().GetConnected(); c == nil || c.Client == "" || c.PingInterval == 0 {
		t.Fatalf("first event is not Connected with a client and ping interval")
	}
	epochs := map[string]string{}
	for range 2 {
		s := g.must().GetSubscribed()
		if s == nil || !s.Recovered {
			t.Fatalf("want Subscribed, recovered, got %v", s)
		}
		epochs[s.Channel] = s.Epoch
	}
	if epochs["chat:b"] == "" {
		t.Fatalf("no Subscribed for chat:b: %v", epochs)
	}
	live := n.publish("chat:a", `"live"`)
	p := g.must().GetPublication()
	if p == nil || p.Channel != "chat:a" || p.Offset != live || p.Data != `"live"` {
		t.Fatalf("live publication: got %v, want chat:a offset %d", p, live)
	}
	g.cancel() // the cut
	if first != 2 {
		t.Fatalf("chat:b offsets: %d", first)
	}
	for range 2 {
		n.publish("chat:a", `"missed"`)
	}
	n.publish("chat:b", `"b3"`)

	// Resume: chat:a from what it saw, chat:b from offset 1.
	g = subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{
		{Channel: "chat:a", Since: &switchboardv1.Position{Epoch: p.Epoch, Offset: p.Offset}},
		{Channel: "chat:b", Since: &switchboardv1.Position{Epoch: epochs["chat:b"], Offset: 1}},
	}})
	if g.must().GetConnected() == nil {
		t.Fatal("no Connected on resume")
	}
	for range 2 {
		if s := g.must().GetSubscribed(); s == nil || !s.Recovered {
			t.Fatalf("resume: want Subscribed recovered, got %v", s)
		}
	}
	got := map[string][]uint64{}
	for len(got["chat:a"]) < 2 || len(got["chat:b"]) < 2 {
		p := g.must().GetPublication()
		if p == nil {
			t.Fatal("resume: an event that is not a publication before the replay ended")
		}
		got[p.Channel] = append(got[p.Channel], p.Offset)
	}
	if fmt.Sprint(got["chat:a"]) != fmt.Sprint([]uint64{live + 1, live + 2}) || fmt.Sprint(got["chat:b"]) != "[2 3]" {
		t.Fatalf("replayed %v, want chat:a [%d %d] and chat:b [2 3]", got, live+1, live+2)
	}
	after := n.publish("chat:b", `"after"`)
	if p := g.must().GetPublication(); p == nil || p.Channel != "chat:b" || p.Offset != after {
		t.Fatalf("live after the replay: %v, want chat:b %d", p, after)
	}
}

// TestGRPCTLS: the same listener serves gRPC over TLS, ALPN h2.
func TestGRPCTLS(t *testing.T) {
	cert, key, pool, err := selfsigned.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	conn := dialGRPC(t, addrOf(n), credentials.NewTLS(&tls.Config{RootCAs: pool}))
	g := subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "chat:tls"}}})
	g.must()
	g.must()
	if got := n.hub.Stats().Sessions[stream.GRPC]; got != 1 {
		t.Errorf("the node counts %d grpc sessions, want 1", got)
	}
	res, err := n.hub.Publish(context.Background(), stream.PublishRequest{Channel: "chat:tls", Data: []byte(`{"x":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	off := res.Offset
	if p := g.must().GetPublication(); p == nil || p.Offset != off {
		t.Fatalf("over TLS: got %v, want offset %d", p, off)
	}
}

// rawCodec sends bytes as they are: a malformed message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error { *(v.(*[]byte)) = b; return nil }
func (rawCodec) Name() string                    { return "proto" }

// TestGRPCBadInput: malformed protobuf and an unknown method are refused
// with the right status and the project's code in the details, and a
// subscriber on another stream goes on receiving.
func TestGRPCBadInput(t *testing.T) {
	n := newNode(t)
	conn := dialGRPC(t, addrOf(n), insecure.NewCredentials())
	canary := subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "chat:canary"}}})
	canary.must()
	canary.must()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Field 1 as length-delimited with a length past the end.
	bad := []byte{0x0a, 0x7f, 'x'}
	for _, method := range []string{subscribeMethod, "/switchboard.v1.ClientService/Publish"} {
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.SendMsg(bad)
		_ = s.CloseSend()
		var out []byte
		err = s.RecvMsg(&out)
		if c, code := detail(t, err); c != codes.InvalidArgument || code != 107 {
			t.Errorf("%s with malformed protobuf: %v, code %d; want InvalidArgument, 107", method, c, code)
		}
	}
	// The API service decodes its requests the same way (with its key, so
	// that the message is read at all).
	apiCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "apikey "+apiKey)
	for _, method := range []string{"/switchboard.v1.APIService/Publish", "/switchboard.v1.APIService/History"} {
		var out []byte
		err := conn.Invoke(apiCtx, method, bad, &out, grpc.ForceCodec(rawCodec{}))
		if c, code := detail(t, err); c != codes.InvalidArgument || code != 107 {
			t.Errorf("%s with malformed protobuf: %v, code %d; want InvalidArgument, 107", method, c, code)
		}
	}
	for _, method := range []string{"/switchboard.v1.ClientService/Nope", "/switchboard.v1.APIService/Nope", "/switchboard.v1.Nothing/Here"} {
		err := conn.Invoke(ctx, method, &switchboardv1.PublishRequest{}, new(switchboardv1.PublishResponse))
		if c, code := detail(t, err); c != codes.Unimplemented || code != 104 {
			t.Errorf("%s: %v, code %d; want Unimplemented, 104", method, c, code)
		}
	}
	off := n.publish("chat:canary", `"alive"`)
	if p := canary.must().GetPublication(); p == nil || p.Offset != off {
		t.Fatalf("canary after the bad input: %v, want offset %d", p, off)
	}
}

// TestGRPCReflectionAndHealth: grpcurl-style reflection lists the client
// and API services and health; health says SERVING, then NOT_SERVING once
// the node drains.
func TestGRPCReflectionAndHealth(t *testing.T) {
	n := newNode(t, func(c *server.Config) { c.ShutdownDelay = 2 * time.Second })
	conn := dialGRPC(t, addrOf(n), insecure.NewCredentials())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	res, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range res.GetListServicesResponse().GetService() {
		names[s.Name] = true
	}
	for _, want := range []string{"switchboard.v1.ClientService", "switchboard.v1.APIService", "grpc.health.v1.Health"} {
		if !names[want] {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	_ = rs.CloseSend()

	health := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "switchboard.v1.ClientService"} {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v, %v; want SERVING", svc, r, err)
		}
	}
	n.stopped = true
	n.stop()
	var last error
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.Status == healthpb.HealthCheckResponse_NOT_SERVING {
			last = nil
			break
		}
		last = fmt.Errorf("health while draining: %v, %v", r, err)
	}
	if last != nil {
		t.Error(last)
	}
	<-n.served
}

// TestGRPCShutdown: a node that stops ends every Subscribe stream with
// Disconnect 3001 (reconnect) and then the status, and Serve returns.
func TestGRPCShutdown(t *testing.T) {
	n := newNode(t)
	conn := dialGRPC(t, addrOf(n), insecure.NewCredentials())
	g := subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "chat:bye"}}})
	g.must()
	g.must()
	if err := n.shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	var d *switchboardv1.Disconnect
	for {
		m, err := g.next()
		if err != nil {
			if d == nil {
				t.Fatalf("stream ended with %v before a Disconnect", err)
			}
			if c, code := detail(t, err); c != codes.Unavailable || code != 3001 {
				t.Fatalf("status after the disconnect: %v, %d; want Unavailable, 3001", c, code)
			}
			break
		}
		if d != nil {
			t.Fatalf("an event after the Disconnect: %v", m)
		}
		d = m.GetDisconnect()
	}
	if d.Code != 3001 || !d.Reconnect {
		t.Fatalf("disconnect %v, want 3001 reconnect", d)
	}
}

// TestGRPCSlowStream: a client that stops reading is cut as slow, like a
// WebSocket client: once it reads again it gets a gapless prefix, then
// Disconnect 3002 (reconnect), then the status.
func TestGRPCSlowStream(t *testing.T) {
	n := newNode(t, withHub(t, hub.Config{QueueLimit: 16 << 10, MaxMessageSize: 8 << 10}))
	// A small window (no BDP growth) so the server's writes block soon.
	conn, err := grpc.NewClient(addrOf(n), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g := subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "flood"}}})
	g.must()
	g.must()
	data := []byte(`"` + strings.Repeat("x", 4<<10) + `"`)
	before := n.hub.Stats().QueueDrops
	testkit.Eventually(t, "the node to cut the stream that does not read", func() bool {
		for range 16 {
			if _, err := n.hub.Publish(context.Background(), stream.PublishRequest{Channel: "flood", Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		return n.hub.Stats().QueueDrops > before
	})
	var last uint64
	for {
		m, err := g.next()
		if err != nil {
			t.Fatalf("stream ended with %v before a Disconnect", err)
		}
		if d := m.GetDisconnect(); d != nil {
			if d.Code != 3002 || !d.Reconnect {
				t.Fatalf("disconnect %v, want 3002 reconnect", d)
			}
			break
		}
		p := m.GetPublication()
		if p == nil || p.Offset != last+1 {
			t.Fatalf("after #%d got %v", last, m)
		}
		last = p.Offset
	}
	_, err = g.next()
	if c, code := detail(t, err); c != codes.Unavailable || code != 3002 {
		t.Fatalf("status: %v, %d; want Unavailable, 3002", c, code)
	}
}

// TestGRPCCompressedStream: a call that asks for gzip gets its first
// events compressed by connect and the publications the node encoded once
// uncompressed, on the one stream, and reads them all in order.
func TestGRPCCompressedStream(t *testing.T) {
	n := newNode(t)
	conn := dialGRPC(t, addrOf(n), insecure.NewCredentials())
	g := subscribeGRPC(t, conn, &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "chat:z"}}},
		grpc.UseCompressor(gzip.Name))
	if g.must().GetConnected() == nil || g.must().GetSubscribed() == nil {
		t.Fatal("want Connected, then Subscribed")
	}
	for i := range 20 {
		off := n.publish("chat:z", fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 200)))
		if p := g.must().GetPublication(); p == nil || p.Offset != off {
			t.Fatalf("publication %d: %v, want offset %d", i, p, off)
		}
	}
}

package e2e_test

import (
	"context"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
)

// TestRefreshNarrowedTokenUnsubscribes refreshes a connection's token with
// one that grants fewer channels: the node ends the subscription the new
// token no longer allows with an unsubscribed push (code 103, permission
// denied), keeps the others, and delivers nothing more of the channel it
// left — over WebSocket and over gRPC, the transports that refresh a
// token in place. Before, the subscription went on under the new token.
func TestRefreshNarrowedTokenUnsubscribes(t *testing.T) {
	n := startTransportNode(t)
	wide := mintTransportToken(t, "ann", []string{"user:ann-a", "user:ann-b"}, time.Hour)
	narrow := mintTransportToken(t, "ann", []string{"user:ann-b"}, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	// What a subscribe to the channel with the new token is answered.
	const refusal = `subscribe "user:ann-a": permission denied: the token does not grant this channel`

	t.Run("websocket", func(t *testing.T) {
		c, _, err := wsclient.Dial(ctx, n.WS, wsclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		send := func(cmd protocol.Command) {
			if err := c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
				t.Fatal(err)
			}
		}
		// next returns the next frame that is not a ping.
		next := func() protocol.Frame {
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				f, err := protocol.DecodeFrame(b)
				if err != nil {
					t.Fatalf("%s: %v", b, err)
				}
				if f.Type != protocol.TypePing {
					return f
				}
			}
		}
		send(protocol.Command{Type: protocol.TypeConnect, ID: 1, Token: wide})
		send(protocol.Command{Type: protocol.TypeSubscribe, ID: 2, Channel: "user:ann-a"})
		send(protocol.Command{Type: protocol.TypeSubscribe, ID: 3, Channel: "user:ann-b"})
		for id := uint64(1); id <= 3; id++ {
			if f := next(); f.ID != id || f.Error != nil {
				t.Fatalf("reply %d: %+v", id, f)
			}
		}
		send(protocol.Command{Type: protocol.TypeRefresh, ID: 4, Token: narrow})
		got := map[string]protocol.Frame{}
		for len(got) < 2 {
			f := next()
			got[f.Type] = f
		}
		if f := got[protocol.TypeRefresh]; f.ID != 4 || f.Error != nil || f.Expires == 0 {
			t.Errorf("refresh reply: %+v", f)
		}
		if f := got[protocol.TypeUnsubscribed]; f.Channel != "user:ann-a" || f.Code != 103 || f.Reason != refusal {
			t.Errorf("unsubscribed push: %+v, want user:ann-a 103 %q", f, refusal)
		}
		publishEach(t, n, "user:ann-a", `"left"`)
		b := publishEach(t, n, "user:ann-b", `"kept"`)[0]
		if f := next(); f.Type != protocol.TypeMessage || f.Channel != "user:ann-b" || f.Offset != b.pos.Offset {
			t.Errorf("after the refresh: %+v, want user:ann-b's publication only", f)
		}
	})

	t.Run("grpc", func(t *testing.T) {
		u, err := url.Parse(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient("passthrough:///"+u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		sctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+wide)
		cs, err := cc.NewStream(sctx, &grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true}, subscribeMethod)
		if err != nil {
			t.Fatal(err)
		}
		req := &switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{{Channel: "user:ann-a"}, {Channel: "user:ann-b"}}}
		if err := cs.SendMsg(req); err != nil {
			t.Fatal(err)
		}
		if err := cs.CloseSend(); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		// next returns the next event that is not a ping.
		next := func() *switchboardv1.SubscribeResponse {
			for {
				m := new(switchboardv1.SubscribeResponse)
				if err := cs.RecvMsg(m); err != nil {
					t.Fatal(err)
				}
				if m.GetPing() == nil {
					return m
				}
			}
		}
		client := next().GetConnected().GetClient()
		for range 2 {
			if s := next().GetSubscribed(); s == nil {
				t.Fatal("no Subscribed event")
			}
		}
		rctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+narrow)
		res := new(switchboardv1.RefreshResponse)
		if err := cc.Invoke(rctx, "/switchboard.v1.ClientService/Refresh", &switchboardv1.RefreshRequest{Client: client}, res); err != nil {
			t.Fatal(err)
		}
		u2 := next().GetUnsubscribed()
		if u2.GetChannel() != "user:ann-a" || u2.GetError().GetCode() != 103 || u2.GetError().GetMessage() != refusal {
			t.Errorf("after the refresh: %v, want Unsubscribed user:ann-a 103 %q", u2, refusal)
		}
		publishEach(t, n, "user:ann-a", `"left"`)
		b := publishEach(t, n, "user:ann-b", `"kept"`)[0]
		if p := next().GetPublication(); p.GetChannel() != "user:ann-b" || p.GetOffset() != b.pos.Offset {
			t.Errorf("after the refresh: %v, want user:ann-b's publication only", p)
		}
	})
}

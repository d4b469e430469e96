package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/stream"
)

// grpcFollower follows channels over switchboard.v1.ClientService/Subscribe
// with grpc-go, a gRPC implementation the project did not write (the node
// serves with connect-go), over h2c, and the generated messages only: one
// call per connection naming every channel with the position it has, the
// token as "authorization: Bearer" metadata. Each connection is a
// ClientConn of its own, so a cut drops the TCP connection, as a failing
// network would.
type grpcFollower struct {
	*eventQueue
	spec followSpec

	mu sync.Mutex
	// pos is the last position received per channel: a publication's, or
	// the latest a Subscribed event reported when nothing before it will
	// come (no position given, or not recovered).
	pos map[string]stream.Position
	rd  connReader
}

var _ follower = (*grpcFollower)(nil)

// subscribeMethod is the full name of the call, as grpc-go takes it.
const subscribeMethod = "/switchboard.v1.ClientService/Subscribe"

func (f *grpcFollower) open(ctx context.Context, n *node, spec followSpec) error {
	f.spec = spec
	f.pos = maps.Clone(spec.since)
	if f.pos == nil {
		f.pos = make(map[string]stream.Position)
	}
	return f.connect(ctx, n)
}

func (f *grpcFollower) resume(ctx context.Context, n *node) error {
	f.cut()
	return f.connect(ctx, n)
}

func (f *grpcFollower) cut() { f.rd.stop() }

func (f *grpcFollower) close() { f.cut() }

// connect opens a call from the positions held and waits until every
// channel has its Subscribed event, or the call has ended.
func (f *grpcFollower) connect(ctx context.Context, n *node) error {
	u, err := url.Parse(n.URL)
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient("passthrough:///"+u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	req := &switchboardv1.SubscribeRequest{}
	f.mu.Lock()
	for _, ch := range f.spec.channels {
		cr := &switchboardv1.ChannelRequest{Channel: ch}
		if p, ok := f.pos[ch]; ok {
			cr.Since = &switchboardv1.Position{Epoch: p.Epoch, Offset: p.Offset}
		}
		req.Channels = append(req.Channels, cr)
	}
	f.mu.Unlock()

	// The call outlives connect's ctx; ctx bounds only the wait for it.
	rctx, cancel := context.WithCancel(context.Background())
	if f.spec.token != "" {
		rctx = metadata.AppendToOutgoingContext(rctx, "authorization", "Bearer "+f.spec.token)
	}
	end := func() { cancel(); cc.Close() }
	cs, err := cc.NewStream(rctx, &grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true}, subscribeMethod)
	if err == nil {
		err = cs.SendMsg(req)
	}
	if err == nil {
		err = cs.CloseSend()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		end()
		return fmt.Errorf("grpc: %w", err)
	}
	settled, done := make(chan struct{}), make(chan struct{})
	f.rd = connReader{cancel: end, done: done}
	go f.read(rctx, cs, len(req.Channels), settled, done)
	select {
	case <-settled:
		return nil
	case <-done:
		return nil // the node ended it; the events say how
	case <-ctx.Done():
		f.cut()
		return ctx.Err()
	}
}

// read turns the call's events into follower events until it ends. settled
// is closed once every channel of the request has its Subscribed event.
func (f *grpcFollower) read(ctx context.Context, cs grpc.ClientStream, pending int, settled, done chan struct{}) {
	defer close(done)
	var discon *switchboardv1.Disconnect
	for {
		m := new(switchboardv1.SubscribeResponse)
		err := cs.RecvMsg(m)
		if err != nil {
			if ctx.Err() != nil {
				return // cut: say nothing, as a dead network would not
			}
			f.ended(err, discon)
			return
		}
		switch ev := m.GetEvent().(type) {
		case *switchboardv1.SubscribeResponse_Connected:
			if ev.Connected.GetClient() == "" || ev.Connected.GetPingInterval() == 0 {
				f.push(followEvent{kind: evOther, raw: "connected " + protojson.Format(m)})
			}
		case *switchboardv1.SubscribeResponse_Subscribed:
			f.subscribed(ev.Subscribed)
			if pending--; pending == 0 && settled != nil {
				close(settled)
				settled = nil
			}
		case *switchboardv1.SubscribeResponse_Publication:
			p := ev.Publication
			pub := &stream.Publication{
				Channel: p.GetChannel(), Epoch: p.GetEpoch(), Offset: p.GetOffset(),
				Data: json.RawMessage(p.GetData()), Time: p.GetTime(), Key: p.GetKey(),
			}
			f.mu.Lock()
			f.pos[pub.Channel] = pub.Position()
			f.mu.Unlock()
			f.push(followEvent{kind: evPublication, pub: pub})
		case *switchboardv1.SubscribeResponse_Ping:
			// The node's keep-alive; a server stream has nothing to answer.
		case *switchboardv1.SubscribeResponse_Disconnect:
			discon = ev.Disconnect
			f.push(followEvent{kind: evDisconnect, code: discon.GetCode(), reason: discon.GetReason(), reconnect: discon.GetReconnect()})
		default:
			// Gap, Unsubscribed, Join, Leave: verbatim, for the test to judge.
			f.push(followEvent{kind: evOther, raw: protojson.Format(m)})
		}
	}
}

// ended reports the end of a call. After a Disconnect event the status only
// repeats it: the end carries the code of its details. Without one, a
// failed status is a refusal (or the network's failure), reported as the
// error it carries before the end.
func (f *grpcFollower) ended(err error, discon *switchboardv1.Disconnect) {
	if errors.Is(err, io.EOF) {
		f.push(followEvent{kind: evEnd})
		return
	}
	st := status.Convert(err)
	var coded *switchboardv1.Error
	for _, d := range st.Details() {
		if e, ok := d.(*switchboardv1.Error); ok {
			coded = e
		}
	}
	if discon != nil {
		f.push(followEvent{kind: evEnd, code: coded.GetCode(), grpc: st.Code()})
		return
	}
	if coded == nil {
		f.push(followEvent{kind: evEnd, err: err, grpc: st.Code()})
		return
	}
	f.push(
		followEvent{kind: evError, code: coded.GetCode(), reason: coded.GetMessage(), grpc: st.Code()},
		followEvent{kind: evEnd},
	)
}

// subscribed records a Subscribed event. A recovered subscription resumes
// from the position sent, and its replay follows; any other starts after
// the channel's latest publication.
func (f *grpcFollower) subscribed(s *switchboardv1.Subscribed) {
	latest := stream.Position{Epoch: s.GetEpoch(), Offset: s.GetOffset()}
	f.mu.Lock()
	if _, had := f.pos[s.GetChannel()]; !had || !s.GetRecovered() {
		f.pos[s.GetChannel()] = latest
	}
	f.mu.Unlock()
	f.push(followEvent{kind: evSubscribed, channel: s.GetChannel(), recovered: s.GetRecovered(), latest: latest})
}

// grpcCodeFor is the gRPC code of a refusal whose HTTP status is status:
// docs/errors.md gives each code of the table both, and a node refuses
// over gRPC with the one that means what the HTTP status means.
func grpcCodeFor(status int) codes.Code {
	switch status {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

package grpc

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/switchboardhq/switchboard/internal/grpcerr"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// call is what a handler needs of a request besides its message.
type call struct {
	header http.Header
	peer   string // the caller's address, host:port
}

func callOf(r connect.AnyRequest) call {
	return call{header: r.Header(), peer: r.Peer().Addr}
}

// token is the token in the call's authorization metadata
// ("Bearer <jwt>"), or "" for none. gRPC metadata are HTTP headers.
func (c call) token() string {
	return transport.BearerToken(c.header)
}

// identity authenticates the call: no token is an anonymous client.
func (s *Service) identity(c call) (stream.Identity, error) {
	return transport.Authenticate(s.cfg.Verifier, c.token())
}

// decodeRequest reads a raw request into m, refusing a malformed one with
// code 107 (one over the node's size never got this far: grpcerr.Limit
// refused it with code 112).
func decodeRequest(r *raw, m proto.Message) error {
	if err := decode(r.b, r.json, m); err != nil {
		return fmt.Errorf("%w: malformed %s: %v", stream.ErrBadRequest, m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// Handle serves procedure with f as a unary call whose request is decoded
// here, as ClientService's are, so that a malformed message is refused
// with code 107 in its details rather than connect's bare InvalidArgument.
// f gets the decoded message with the call's headers; opts are added to
// [Options]. Package server serves APIService with it.
func Handle[Req any, PReq interface {
	*Req
	proto.Message
}, Res any](procedure string, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), opts ...connect.HandlerOption) http.Handler {
	return connect.NewUnaryHandler(procedure, func(ctx context.Context, r *connect.Request[raw]) (*connect.Response[Res], error) {
		m := PReq(new(Req))
		if err := decodeRequest(r.Msg, m); err != nil {
			return nil, grpcerr.Error(err)
		}
		req := connect.NewRequest((*Req)(m))
		maps.Copy(req.Header(), r.Header())
		return f(ctx, req)
	}, append(Options(), opts...)...)
}

// unary adapts a method to connect's unary handler over raw requests: the
// request is decoded here (see codec.go), and every error leaves as
// [Error] made it.
func unary[Req any, PReq interface {
	*Req
	proto.Message
}, Res any](s *Service, f func(context.Context, call, *Req) (*Res, error)) func(context.Context, *connect.Request[raw]) (*connect.Response[Res], error) {
	return func(ctx context.Context, r *connect.Request[raw]) (*connect.Response[Res], error) {
		m := PReq(new(Req))
		if err := decodeRequest(r.Msg, m); err != nil {
			return nil, s.fail(r.Spec().Procedure, err)
		}
		res, err := f(ctx, callOf(r), m)
		if err != nil {
			return nil, s.fail(r.Spec().Procedure, err)
		}
		return connect.NewResponse(res), nil
	}
}

// fail is Error, logging what the client only sees as internal.
func (s *Service) fail(procedure string, err error) error {
	ce := grpcerr.Error(err)
	if c := connect.CodeOf(ce); c == connect.CodeInternal || c == connect.CodeUnknown {
		s.cfg.Logger.Error("grpc call failed", "procedure", procedure, "err", err)
	}
	return ce
}

// begin authenticates a unary call and charges the client's budget, as the
// HTTP client commands do (transport.Charge): the budget is charged even
// when the token is refused, so a client cannot try tokens for free.
func (s *Service) begin(ctx context.Context, c call) (stream.Identity, error) {
	id, err := s.identity(c)
	if secs, lerr := transport.Charge(s.cfg.Limiter, c.peer, id); lerr != nil {
		// gRPC has no Retry-After; the message says it, and so does this
		// trailer-less header for clients that read headers.
		if info, ok := connect.CallInfoForHandlerContext(ctx); ok {
			info.ResponseHeader().Set("Retry-After", strconv.Itoa(secs))
		}
		return id, lerr
	}
	return id, err
}

// Publish publishes as the client, as POST /connection/publish does
// ([hub.Hub.PublishAs]): the channel's namespace decides whether it may.
func (s *Service) Publish(ctx context.Context, r *connect.Request[switchboardv1.PublishRequest]) (*connect.Response[switchboardv1.PublishResponse], error) {
	return respond(s.publish(ctx, callOf(r), r.Msg))
}

func (s *Service) publish(ctx context.Context, c call, m *switchboardv1.PublishRequest) (*switchboardv1.PublishResponse, error) {
	id, err := s.begin(ctx, c)
	if err != nil {
		return nil, err
	}
	if m.Channel == "" {
		return nil, fmt.Errorf("%w: channel is required", stream.ErrBadRequest)
	}
	data, err := protocol.RequireData(Data(m.Data))
	if err != nil {
		return nil, err
	}
	res, err := s.cfg.Hub.PublishAs(ctx, id, stream.PublishRequest{Channel: m.Channel, Data: data, Key: m.Key})
	if err != nil {
		return nil, err
	}
	return &switchboardv1.PublishResponse{Result: PublishResult(res)}, nil
}

// History reads a page of history as the client, as GET
// /connection/history does ([hub.Hub.HistoryAs]), with the same limits: 100
// publications unless the query says otherwise, at most 1000.
func (s *Service) History(ctx context.Context, r *connect.Request[switchboardv1.HistoryRequest]) (*connect.Response[switchboardv1.HistoryResponse], error) {
	return respond(s.history(ctx, callOf(r), r.Msg))
}

func (s *Service) history(ctx context.Context, c call, m *switchboardv1.HistoryRequest) (*switchboardv1.HistoryResponse, error) {
	id, err := s.begin(ctx, c)
	if err != nil {
		return nil, err
	}
	q, err := HistoryQuery(m.Query, transport.RefuseLimit)
	if err != nil {
		return nil, err
	}
	page, err := s.cfg.Hub.HistoryAs(ctx, id, m.Channel, q)
	if err != nil {
		return nil, err
	}
	return &switchboardv1.HistoryResponse{Page: HistoryPage(m.Channel, page)}, nil
}

// Presence lists a channel's clients as the client, as GET
// /connection/presence does ([hub.Hub.PresenceAs]).
func (s *Service) Presence(ctx context.Context, r *connect.Request[switchboardv1.PresenceRequest]) (*connect.Response[switchboardv1.PresenceResponse], error) {
	return respond(s.presence(ctx, callOf(r), r.Msg))
}

func (s *Service) presence(ctx context.Context, c call, m *switchboardv1.PresenceRequest) (*switchboardv1.PresenceResponse, error) {
	id, err := s.begin(ctx, c)
	if err != nil {
		return nil, err
	}
	clients, err := s.cfg.Hub.PresenceAs(ctx, id, m.Channel)
	if err != nil {
		return nil, err
	}
	out := &switchboardv1.PresenceResponse{Channel: m.Channel, Clients: make([]*switchboardv1.ClientInfo, len(clients))}
	for i := range clients {
		out.Clients[i] = ClientInfo(&clients[i])
	}
	return out, nil
}

// Refresh replaces the identity of a Subscribe stream's session with the
// call's token, which must be for the same user ([hub.Session.Refresh]).
// The session must be a stream of this node: a client id this node does not
// serve is refused with code 115, "unknown client" (see doc.go).
func (s *Service) Refresh(ctx context.Context, r *connect.Request[switchboardv1.RefreshRequest]) (*connect.Response[switchboardv1.RefreshResponse], error) {
	return respond(s.refresh(ctx, callOf(r), r.Msg))
}

func (s *Service) refresh(ctx context.Context, c call, m *switchboardv1.RefreshRequest) (*switchboardv1.RefreshResponse, error) {
	id, err := s.begin(ctx, c)
	if err != nil {
		return nil, err
	}
	if id.Anonymous() {
		return nil, fmt.Errorf("%w: refresh needs a token in the authorization metadata", stream.ErrUnauthorized)
	}
	s.mu.Lock()
	sess := s.sessions[m.Client]
	s.mu.Unlock()
	if sess == nil {
		return nil, fmt.Errorf("%w: unknown client %q", stream.ErrNotConnected, strings.ToValidUTF8(m.Client, "?"))
	}
	if err := sess.Refresh(id); err != nil {
		return nil, fmt.Errorf("refresh %s: %w", m.Client, err)
	}
	out := &switchboardv1.RefreshResponse{}
	if !id.ExpiresAt.IsZero() {
		out.Expires = id.ExpiresAt.Unix()
	}
	return out, nil
}

// respond wraps a typed method's answer for connect.
func respond[Res any](res *Res, err error) (*connect.Response[Res], error) {
	if err != nil {
		return nil, grpcerr.Error(err)
	}
	return connect.NewResponse(res), nil
}

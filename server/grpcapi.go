package server

import (
	"context"
	"net/http"

	grpcsvc "github.com/switchboardhq/switchboard/transport/grpc"

	"connectrpc.com/connect"

	"github.com/switchboardhq/switchboard/internal/grpcerr"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/transport"
)

// apiService is switchboard.v1.APIService, the HTTP API for backends over
// gRPC, gRPC-Web and Connect. Each call decodes its protobuf request, calls
// the operation the HTTP endpoint calls (api.go) and encodes the result:
// the checks, limits and orderings are those of the HTTP API because they
// are the same code. Its methods are safe to call concurrently.
type apiService struct{ s *Server }

var _ switchboardv1connect.APIServiceHandler = apiService{}

// grpcAPI returns the service's path prefix and handler. The API key is
// checked from the "authorization" metadata before the request message is
// read, as the HTTP API checks the header before the body; the message may
// be as large as an HTTP API body; the call runs under the HTTP deadlines
// of every API request; and every failure is a status with the project's
// code in its details (internal/grpcerr), logged when it is the node's
// fault, as the HTTP API logs its 5xx.
func (s *Server) grpcAPI() (string, http.Handler) {
	limit, opts := grpcerr.Limit(s.maxBody)
	opts = append(opts,
		connect.WithRequestGate(func(ctx context.Context, _ connect.Spec, _ connect.Peer, header http.Header) (context.Context, error) {
			if err := s.authorize(header); err != nil {
				return nil, grpcerr.Error(err)
			}
			return ctx, nil
		}),
		connect.WithInterceptors(connect.UnaryInterceptorFunc(s.grpcErrors)),
	)
	// Each method through grpcsvc.Handle, so that a malformed request is
	// refused with the project's code, as on the client service.
	a := apiService{s}
	h := http.NewServeMux()
	h.Handle(switchboardv1connect.APIServicePublishProcedure, grpcsvc.Handle(switchboardv1connect.APIServicePublishProcedure, a.Publish, opts...))
	h.Handle(switchboardv1connect.APIServiceBroadcastProcedure, grpcsvc.Handle(switchboardv1connect.APIServiceBroadcastProcedure, a.Broadcast, opts...))
	h.Handle(switchboardv1connect.APIServiceHistoryProcedure, grpcsvc.Handle(switchboardv1connect.APIServiceHistoryProcedure, a.History, opts...))
	h.Handle(switchboardv1connect.APIServicePresenceProcedure, grpcsvc.Handle(switchboardv1connect.APIServicePresenceProcedure, a.Presence, opts...))
	h.Handle(switchboardv1connect.APIServiceChannelsProcedure, grpcsvc.Handle(switchboardv1connect.APIServiceChannelsProcedure, a.Channels, opts...))
	h.Handle(switchboardv1connect.APIServiceDisconnectProcedure, grpcsvc.Handle(switchboardv1connect.APIServiceDisconnectProcedure, a.Disconnect, opts...))
	h.Handle(switchboardv1connect.APIServiceInfoProcedure, grpcsvc.Handle(switchboardv1connect.APIServiceInfoProcedure, a.Info, opts...))
	path := "/" + switchboardv1connect.APIServiceName + "/"
	return path, s.bound(limit(h))
}

// grpcErrors turns a call's error into its status (grpcerr.Error) and logs
// the node's own failures.
func (s *Server) grpcErrors(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err == nil {
			return res, nil
		}
		if protocol.ErrorFor(err).HTTPStatus() >= http.StatusInternalServerError {
			s.log.Error("api request failed", "procedure", req.Spec().Procedure, "err", err)
		}
		return nil, grpcerr.Error(err)
	}
}

func (a apiService) Publish(ctx context.Context, req *connect.Request[switchboardv1.APIServicePublishRequest]) (*connect.Response[switchboardv1.APIServicePublishResponse], error) {
	m := req.Msg
	res, err := a.s.apiPublish(ctx, m.GetChannel(), grpcsvc.Data(m.GetData()), m.GetKey())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&switchboardv1.APIServicePublishResponse{Result: grpcsvc.PublishResult(res)}), nil
}

func (a apiService) Broadcast(ctx context.Context, req *connect.Request[switchboardv1.BroadcastRequest]) (*connect.Response[switchboardv1.BroadcastResponse], error) {
	m := req.Msg
	results, err := a.s.apiBroadcast(ctx, m.GetChannels(), grpcsvc.Data(m.GetData()), m.GetKey())
	if err != nil {
		return nil, err
	}
	out := make([]*switchboardv1.BroadcastResult, len(results))
	for i, r := range results {
		out[i] = &switchboardv1.BroadcastResult{Channel: r.Channel}
		if r.Error != nil {
			out[i].Error = &switchboardv1.Error{Code: r.Error.Code, Message: r.Error.Message}
		} else {
			out[i].Result = &switchboardv1.PublishResult{Epoch: r.Epoch, Offset: r.Offset, Duplicate: r.Duplicate}
		}
	}
	return connect.NewResponse(&switchboardv1.BroadcastResponse{Results: out}), nil
}

func (a apiService) History(ctx context.Context, req *connect.Request[switchboardv1.APIServiceHistoryRequest]) (*connect.Response[switchboardv1.APIServiceHistoryResponse], error) {
	channel := req.Msg.GetChannel()
	q, err := grpcsvc.HistoryQuery(req.Msg.GetQuery(), transport.CapLimit)
	if err != nil {
		return nil, err
	}
	page, err := a.s.apiHistory(ctx, channel, q)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&switchboardv1.APIServiceHistoryResponse{Page: grpcsvc.HistoryPage(channel, page)}), nil
}

func (a apiService) Presence(ctx context.Context, req *connect.Request[switchboardv1.APIServicePresenceRequest]) (*connect.Response[switchboardv1.APIServicePresenceResponse], error) {
	channel := req.Msg.GetChannel()
	clients, err := a.s.apiPresence(ctx, channel)
	if err != nil {
		return nil, err
	}
	out := make([]*switchboardv1.ClientInfo, len(clients))
	for i := range clients {
		out[i] = grpcsvc.ClientInfo(&clients[i])
	}
	return connect.NewResponse(&switchboardv1.APIServicePresenceResponse{Channel: channel, Clients: out}), nil
}

func (a apiService) Channels(ctx context.Context, req *connect.Request[switchboardv1.ChannelsRequest]) (*connect.Response[switchboardv1.ChannelsResponse], error) {
	list := a.s.apiChannels()
	out := make([]*switchboardv1.ChannelInfo, len(list))
	for i, c := range list {
		out[i] = &switchboardv1.ChannelInfo{Name: c.Name, Subscribers: uint64(c.Subscribers)}
	}
	return connect.NewResponse(&switchboardv1.ChannelsResponse{Channels: out}), nil
}

func (a apiService) Disconnect(ctx context.Context, req *connect.Request[switchboardv1.DisconnectRequest]) (*connect.Response[switchboardv1.DisconnectResponse], error) {
	n, err := a.s.apiDisconnect(ctx, req.Msg.GetUser())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&switchboardv1.DisconnectResponse{Disconnected: uint64(n)}), nil
}

func (a apiService) Info(ctx context.Context, req *connect.Request[switchboardv1.InfoRequest]) (*connect.Response[switchboardv1.InfoResponse], error) {
	in := a.s.apiInfo()
	sessions := make(map[string]int64, len(in.Sessions))
	for t, n := range in.Sessions {
		sessions[string(t)] = n
	}
	return connect.NewResponse(&switchboardv1.InfoResponse{
		Version:       in.Version,
		GoVersion:     in.GoVersion,
		Broker:        in.Broker,
		StartedAt:     in.StartedAt.Unix(),
		UptimeSeconds: in.UptimeSeconds,
		Ready:         in.Ready,
		Sessions:      sessions,
		Subscriptions: in.Subscriptions,
		Channels:      int64(in.Channels),
		Publications:  in.Publications,
		Deliveries:    in.Deliveries,
		Replayed:      in.Replayed,
		QueueDrops:    in.QueueDrops,
	}), nil
}

package server

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	grpcsvc "github.com/switchboardhq/switchboard/transport/grpc"
)

// GRPCService is a gRPC service the node serves beside
// switchboard.v1.ClientService, on the same listener and in all three
// protocols: Path and Handler as a connect-go generated constructor
// returns them, for instance
//
//	path, h := switchboardv1connect.NewAPIServiceHandler(svc, grpc.Options(maxMessageSize)...)
//	cfg.GRPCServices = append(cfg.GRPCServices, server.GRPCService{Path: path, Handler: h})
//
// The node puts it behind the same origin checks and CORS as its own
// service and answers a method it does not have with Unimplemented and a
// coded error (see package grpc).
type GRPCService struct {
	Path    string
	Handler http.Handler
}

// grpcPrefix starts the path of every service of the schema; a path under
// it that names no service the node serves is Unimplemented, not a page.
const grpcPrefix = "/switchboard.v1."

// grpcRoutes mounts the gRPC services, reflection and health on m. Each is
// a path under its service's name, so they sit beside the HTTP endpoints on
// the one mux, over HTTP/1.1 (gRPC-Web, Connect) and HTTP/2 (all three).
func (s *Server) grpcRoutes(m *http.ServeMux) {
	path, h := s.grpc.Handler()
	m.Handle(path, h)
	for _, svc := range s.cfg.GRPCServices {
		name := strings.Trim(svc.Path, "/")
		m.Handle(svc.Path, grpcsvc.Edge(s.origins, grpcsvc.Known(name, svc.Handler)))
	}
	// Reflection lists every service of the schema, whether or not this
	// node mounts it, so grpcurl can describe them all without the files.
	reflector := grpcreflect.NewStaticReflector(
		switchboardv1connect.ClientServiceName,
		switchboardv1connect.APIServiceName,
		grpchealth.HealthV1ServiceName,
	)
	m.Handle(grpcreflect.NewHandlerV1(reflector))
	m.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	m.Handle(grpchealth.NewHandler(healthChecker{s}))
}

// healthChecker answers the standard health service as /readyz does:
// SERVING while the node accepts clients, NOT_SERVING from the moment it
// drains (or its broker is down). The node and each of its services ("",
// switchboard.v1.ClientService, switchboard.v1.APIService) have the same
// status; any other name is NotFound.
type healthChecker struct{ s *Server }

func (c healthChecker) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", switchboardv1connect.ClientServiceName, switchboardv1connect.APIServiceName:
	default:
		return nil, connect.NewError(connect.CodeNotFound, nil)
	}
	if _, err := c.s.ready(); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// grpcFallback serves next, except under grpcPrefix: a call to a service
// the node does not have is Unimplemented, in the call's protocol.
func grpcFallback(next http.Handler) http.Handler {
	unknown := grpcsvc.Unimplemented()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, grpcPrefix) {
			unknown.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// protocols is what the listener speaks: HTTP/1.1; HTTP/2 over TLS (ALPN
// h2); and HTTP/2 with prior knowledge on plain TCP (h2c), which is how
// gRPC clients reach a node without TLS.
func protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

package grpc

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/ratelimit"
	"github.com/switchboardhq/switchboard/proto/switchboard/v1/switchboardv1connect"
	"github.com/switchboardhq/switchboard/transport"
)

// Config configures a Service. Its zero value works once Hub is set; each
// field documents its default.
type Config struct {
	// Hub is the node the streams join and the calls go to. Required.
	Hub *hub.Hub
	// Verifier checks the token in a call's authorization metadata. Nil:
	// any token is refused and only anonymous clients are served.
	Verifier transport.Verifier
	// Origins decides which browser origins may call (gRPC-Web and
	// Connect from a page send an Origin). Nil: same-origin only, plus
	// callers that send no Origin.
	Origins transport.OriginChecker
	// Limiter is the per-client request budget of the unary calls, the one
	// the HTTP client commands use (see [transport.Charge]). Nil: no limit.
	Limiter *ratelimit.Limiter
	// WriteTimeout bounds one write to a stream; a client that takes
	// longer is dropped. Default 10s.
	WriteTimeout time.Duration
	// Logger receives the service's logs. Default slog.Default().
	Logger *slog.Logger
}

const defaultWriteTimeout = 10 * time.Second

// requestSlack is what a request may hold beyond the largest publication:
// the channel name, the key and the message's own framing.
const requestSlack = 4 << 10

// Service serves switchboard.v1.ClientService. It is safe for concurrent
// use. It starts no goroutine of its own: each stream lives in its
// request's goroutine, and ends when the hub disconnects its session
// (hub.Shutdown ends them all), so http.Server.Shutdown waits for them.
type Service struct {
	cfg     Config
	maxBody int // the largest request message, in bytes

	mu       sync.Mutex
	sessions map[string]*hub.Session // the streams' sessions, by client id, for Refresh
}

var _ switchboardv1connect.ClientServiceHandler = (*Service)(nil)

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.Hub == nil {
		panic("grpc: Config.Hub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	return &Service{
		cfg:      cfg,
		maxBody:  cfg.Hub.Config().MaxMessageSize + requestSlack,
		sessions: make(map[string]*hub.Session),
	}
}

// Options are the handler options every service on the node is built
// with: the codecs of this package (see codec.go) and a cap on what a
// request may make the node read. A request over the cap is refused by
// connect with ResourceExhausted before it is read whole; one under it but
// over the node's message size is refused here, with code 112 in its
// details.
func Options(maxMessageSize int) []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(protoCodec), connect.WithCodec(jsonCodec), connect.WithCodec(jsonCharsetCodec),
		connect.WithReadMaxBytes(readCap(maxMessageSize)),
	}
}

// readCap is the most a request message may make the node read: twice what
// the node accepts, so a message somewhat too large is still read and
// refused with the project's code, and none makes it hold more.
func readCap(maxMessageSize int) int { return 2 * (maxMessageSize + requestSlack) }

// Handler returns the path ClientService is served under and its handler:
// every protocol (gRPC, gRPC-Web, Connect) and codec (proto, json), CORS
// for browsers, and a coded Unimplemented for a method the service does not
// have. Mount it with http.ServeMux.Handle(path, handler).
func (s *Service) Handler() (string, http.Handler) {
	opts := Options(s.cfg.Hub.Config().MaxMessageSize)
	mux := http.NewServeMux()
	sub := connect.NewServerStreamHandler(switchboardv1connect.ClientServiceSubscribeProcedure, s.subscribeRaw, opts...)
	mux.Handle(switchboardv1connect.ClientServiceSubscribeProcedure, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), responseKey{}, w)))
	}))
	mux.Handle(switchboardv1connect.ClientServicePublishProcedure, connect.NewUnaryHandler(
		switchboardv1connect.ClientServicePublishProcedure, unary(s, s.publish), opts...))
	mux.Handle(switchboardv1connect.ClientServiceHistoryProcedure, connect.NewUnaryHandler(
		switchboardv1connect.ClientServiceHistoryProcedure, unary(s, s.history), opts...))
	mux.Handle(switchboardv1connect.ClientServicePresenceProcedure, connect.NewUnaryHandler(
		switchboardv1connect.ClientServicePresenceProcedure, unary(s, s.presence), opts...))
	mux.Handle(switchboardv1connect.ClientServiceRefreshProcedure, connect.NewUnaryHandler(
		switchboardv1connect.ClientServiceRefreshProcedure, unary(s, s.refresh), opts...))
	path := "/" + switchboardv1connect.ClientServiceName + "/"
	return path, Edge(s.cfg.Origins, Known(switchboardv1connect.ClientServiceName, mux))
}

// CORS for gRPC-Web and Connect calls from a page: what they send and
// what the page must be able to read of the answer.
const (
	corsMethods = "POST, GET, OPTIONS"
	corsAllow   = "Authorization, Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Connect-Accept-Encoding, Connect-Content-Encoding, Grpc-Timeout, Grpc-Accept-Encoding, X-Grpc-Web, X-User-Agent"
	corsExpose  = "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, Connect-Content-Encoding"
)

// Edge checks a call's origin and answers CORS, as every HTTP transport
// does with the same allow-list: a browser's call from a refused origin is
// refused with PermissionDenied and code 116 in its details, a preflight is
// answered, and an allowed origin may read the statuses in the answer's
// headers. Package server puts every gRPC service behind it.
func Edge(origins transport.OriginChecker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := transport.CheckOrigin(origins, r); err != nil {
			Refuse(w, r, Error(err))
			return
		}
		if transport.CORSHeaders(w, r, origins, corsMethods, corsAllow, corsExpose) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Known serves the methods of the named service with next and answers any
// other path under the service with Unimplemented and code 104 in its
// details (connect's generated handlers answer a bare 404).
func Known(service string, next http.Handler) http.Handler {
	known := make(map[string]bool)
	if d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service)); err == nil {
		if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
			for i := range sd.Methods().Len() {
				known["/"+service+"/"+string(sd.Methods().Get(i).Name())] = true
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !known[r.URL.Path] {
			Refuse(w, r, unimplemented(r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Unimplemented answers every call with Unimplemented and code 104 in its
// details, in the call's protocol: package server serves it for the paths
// of switchboard.v1 that name no service it has.
func Unimplemented() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Refuse(w, r, unimplemented(r.URL.Path))
	})
}

type refusalKey struct{}

// refusers answer any call with the error in its context, through connect
// so that the answer is in the call's protocol: the unary handler takes
// gRPC, gRPC-Web and Connect's unary calls, the streaming one Connect's
// streams. Their request is a raw, so no body is ever refused as malformed
// first.
var (
	refuseUnary = connect.NewUnaryHandler("/switchboard.v1.Refused/Unary",
		func(ctx context.Context, _ *connect.Request[raw]) (*connect.Response[raw], error) {
			return nil, ctx.Value(refusalKey{}).(error)
		}, Options(0)...)
	refuseStream = connect.NewServerStreamHandler("/switchboard.v1.Refused/Stream",
		func(ctx context.Context, _ *connect.Request[raw], _ *connect.ServerStream[raw]) error {
			return ctx.Value(refusalKey{}).(error)
		}, Options(0)...)
)

// Refuse answers a call with err (a connect error, see [Error]) in the
// call's protocol.
func Refuse(w http.ResponseWriter, r *http.Request, err error) {
	r = r.WithContext(context.WithValue(r.Context(), refusalKey{}, err))
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/connect+") {
		refuseStream.ServeHTTP(w, r)
		return
	}
	refuseUnary.ServeHTTP(w, r)
}

package client

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Transport names a way of reaching a Switchboard node. It is
// [stream.Transport]: the client, the node's statistics and the docs use
// the same names.
type Transport = stream.Transport

// The transports a Client can use.
const (
	// WebSocket carries the protocol both ways on one connection.
	WebSocket = stream.WebSocket
	// SSE is a Server-Sent Events stream; publishing goes over HTTP.
	SSE = stream.SSE
	// LongPoll is one HTTP request at a time, held by the node until a
	// publication arrives or LongPollTimeout passes.
	LongPoll = stream.LongPoll
	// ShortPoll asks every PollInterval and is never held. It is not in
	// the default list: it is the last resort of networks that cut any
	// request held open.
	ShortPoll = stream.Poll
	// GRPC is the server stream of switchboard.v1.ClientService/Subscribe
	// over HTTP/2 (h2c for an http:// URL, TLS for https://); publishing,
	// history and presence use the same service's unary calls. It is not
	// in the default list: browsers cannot speak it, and a node behind a
	// proxy that speaks HTTP/1.1 only cannot be reached with it.
	GRPC = stream.GRPC
)

// DefaultTransports is the order tried when Options.Transports is empty.
var DefaultTransports = []Transport{WebSocket, SSE, LongPoll}

// Endpoints overrides where each transport connects. An empty field is
// derived from the URL given to New: its scheme, host and path, followed by
// /connection/websocket, /connection/sse, /connection/poll,
// /connection/publish, /connection/presence and /connection/history; for
// gRPC, the scheme, host and path alone (the node serves
// /switchboard.v1.ClientService/ on its one listener).
type Endpoints struct {
	WebSocket string // ws:// URL (the http:// spelling works too)
	SSE       string
	Poll      string // long and short polling
	Publish   string // client publish, used when not on a WebSocket
	Presence  string // presence, used when not on a WebSocket
	History   string // history, used when not on a WebSocket
	// GRPC is the base URL of the gRPC services (http:// for h2c,
	// https:// for TLS); the ClientService's paths are added to it.
	GRPC string
}

// Options configure a Client. The zero value works; each field documents its
// default.
type Options struct {
	// Transports lists the transports to try, best first. Default
	// DefaultTransports: WebSocket, then SSE, then long polling.
	Transports []Transport
	// Endpoints overrides the URL of each transport.
	Endpoints Endpoints

	// Token is sent when connecting (the connect command on WebSocket,
	// "Authorization: Bearer" on HTTP and as gRPC metadata). Default:
	// none, an anonymous client.
	Token string
	// GetToken, when set, is called for a token before the first connection
	// (unless Token is set) and whenever the node says the token expired
	// (disconnect 3005, error 109). Without it, an expired Token stops Run.
	// It is never called concurrently with itself.
	GetToken func(ctx context.Context) (string, error)
	// Header is added to every request: the WebSocket upgrade, SSE, polls
	// and publishes (an Origin, a cookie), and as metadata to every gRPC
	// call. Default: none.
	Header http.Header

	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts: the n-th wait is random in [0, min(MaxBackoff,
	// MinBackoff·2ⁿ)] ("full jitter", so clients dropped together do not
	// come back together). Defaults 500ms and 20s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// StableAfter is how long a connection must last for the backoff to
	// start again from MinBackoff. Default 10s.
	StableAfter time.Duration
	// OpenTimeout bounds one attempt to open a transport, up to its first
	// frame; a transport that takes longer is abandoned for the next one.
	// Default 5s.
	OpenTimeout time.Duration
	// UpgradeInterval is how often a client connected over a worse
	// transport than its first tries the better ones again. Default 3
	// minutes; negative: never.
	UpgradeInterval time.Duration
	// PingGrace is added to the node's ping interval to decide that a
	// silent WebSocket, SSE or gRPC stream is dead. Default 10s.
	PingGrace time.Duration
	// LongPollTimeout is how long the node may hold a long poll. Default
	// 25s, under the 30s after which many proxies cut a quiet request.
	LongPollTimeout time.Duration
	// PollInterval is the pause between short polls. Default 2s.
	PollInterval time.Duration
	// RequestTimeout bounds one attempt of Publish or History; they retry
	// until their context ends. Default 10s.
	RequestTimeout time.Duration

	// Dial opens the TCP connections of WebSocket transports: to bind them
	// to a source address, go through a tunnel, or keep a hold on each
	// socket. SSE, polls and publishes go through HTTPClient, whose
	// Transport dials them as the application chooses; when HTTPClient is
	// nil, the client's own HTTP client dials with Dial too, so that one
	// hook covers every transport. It may be called concurrently. Default:
	// a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HTTPClient sends SSE, poll and publish requests. Its Timeout must be
	// zero, since an SSE response lasts as long as the stream; the client
	// sets deadlines per request. Default: a client of its own, dialing
	// with Dial, whose idle connections are closed when Run returns.
	// gRPC calls go through an HTTP/2-only copy of its Transport when that
	// is an *http.Transport (keeping its TLS settings and dialer), else
	// through a transport of the client's own that dials with Dial.
	HTTPClient *http.Client
	// Logger receives the client's logs: connections at debug level,
	// transport changes at info. Default slog.Default().
	Logger *slog.Logger
	// OnState, when set, is called with every change of the connection
	// state, in order, from the goroutine running Run: it must return
	// quickly and must not call Run.
	OnState func(State)
}

// Defaults for Options fields left zero.
const (
	DefaultMinBackoff      = 500 * time.Millisecond
	DefaultMaxBackoff      = 20 * time.Second
	DefaultStableAfter     = 10 * time.Second
	DefaultOpenTimeout     = 5 * time.Second
	DefaultUpgradeInterval = 3 * time.Minute
	DefaultPingGrace       = 10 * time.Second
	DefaultLongPollTimeout = 25 * time.Second
	DefaultPollInterval    = 2 * time.Second
	DefaultRequestTimeout  = 10 * time.Second
	// defaultPingInterval is the node's default ping interval, assumed for
	// SSE streams until a WebSocket connection has told the real one.
	defaultPingInterval = 25 * time.Second
)

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if len(o.Transports) == 0 {
		o.Transports = DefaultTransports
	}
	o.Transports = append([]Transport(nil), o.Transports...)
	seen := make(map[Transport]bool)
	for _, t := range o.Transports {
		switch t {
		case WebSocket, SSE, LongPoll, ShortPoll, GRPC:
		default:
			return o, fmt.Errorf("client: unknown transport %q", t)
		}
		if seen[t] {
			return o, fmt.Errorf("client: transport %q listed twice", t)
		}
		seen[t] = true
	}
	setDuration(&o.MinBackoff, DefaultMinBackoff)
	setDuration(&o.MaxBackoff, DefaultMaxBackoff)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	setDuration(&o.StableAfter, DefaultStableAfter)
	setDuration(&o.OpenTimeout, DefaultOpenTimeout)
	if o.UpgradeInterval == 0 {
		o.UpgradeInterval = DefaultUpgradeInterval
	}
	setDuration(&o.PingGrace, DefaultPingGrace)
	setDuration(&o.LongPollTimeout, DefaultLongPollTimeout)
	setDuration(&o.PollInterval, DefaultPollInterval)
	setDuration(&o.RequestTimeout, DefaultRequestTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// endpoints derives every endpoint from the base URL, keeping overrides.
func endpoints(base string, over Endpoints) (Endpoints, error) {
	u, err := url.Parse(base)
	if err != nil {
		return over, fmt.Errorf("client: URL %q: %w", base, err)
	}
	if u.Host == "" {
		return over, fmt.Errorf("client: URL %q has no host", base)
	}
	httpScheme, wsScheme := "", ""
	switch u.Scheme {
	case "http", "ws":
		httpScheme, wsScheme = "http", "ws"
	case "https", "wss":
		httpScheme, wsScheme = "https", "wss"
	default:
		return over, fmt.Errorf("client: URL %q: scheme must be http, https, ws or wss", base)
	}
	path := strings.TrimSuffix(u.Path, "/")
	at := func(scheme, p string) string {
		v := url.URL{Scheme: scheme, Host: u.Host, Path: path + p}
		return v.String()
	}
	e := over
	if e.WebSocket == "" {
		e.WebSocket = at(wsScheme, "/connection/websocket")
	}
	if e.SSE == "" {
		e.SSE = at(httpScheme, "/connection/sse")
	}
	if e.Poll == "" {
		e.Poll = at(httpScheme, "/connection/poll")
	}
	if e.Publish == "" {
		e.Publish = at(httpScheme, "/connection/publish")
	}
	if e.Presence == "" {
		e.Presence = at(httpScheme, "/connection/presence")
	}
	if e.History == "" {
		e.History = at(httpScheme, "/connection/history")
	}
	if e.GRPC == "" {
		e.GRPC = at(httpScheme, "")
	}
	return e, nil
}

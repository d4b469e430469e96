package stream

// Transport names a way a client reaches a node. The same names are used by
// the node's statistics (GET /api/info, the dashboard feed, metrics labels),
// by the Go and TypeScript SDKs' transport options and by the docs.
type Transport string

// The transports a node serves.
const (
	// WebSocket carries the protocol both ways on one connection
	// (GET /connection/websocket).
	WebSocket Transport = "websocket"
	// SSE is a Server-Sent Events stream (GET /connection/sse); clients
	// publish over HTTP.
	SSE Transport = "sse"
	// LongPoll is one HTTP request at a time, held by the node until a
	// publication arrives or the poll's timeout passes
	// (GET /connection/poll).
	LongPoll Transport = "longpoll"
	// Poll is a short poll, answered at once and never held
	// (GET /connection/poll with timeout=0).
	Poll Transport = "poll"
	// GRPC is the server stream of switchboard.v1.ClientService/Subscribe,
	// over gRPC, gRPC-Web or Connect; clients publish with unary calls.
	GRPC Transport = "grpc"
)

// Transports lists the node's transports, best first.
var Transports = []Transport{WebSocket, SSE, LongPoll, Poll, GRPC}

// ParseTransport reads a transport name. It also accepts "ws" for
// WebSocket, the spelling of earlier versions' statistics and of
// command-line flags people already type.
func ParseTransport(s string) (Transport, bool) {
	if s == "ws" {
		return WebSocket, true
	}
	for _, t := range Transports {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

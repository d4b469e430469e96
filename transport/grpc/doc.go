// Package grpc serves switchboard.v1.ClientService (proto/switchboard/v1)
// with connect-go: one [http.Handler] ([Service.Handler]) answers gRPC,
// gRPC-Web and Connect, binary protobuf and JSON, on the node's one
// listener. Package server mounts it with reflection and health; it owns
// the protocols' edge here (codecs, errors, CORS) and nothing of the hub.
//
// Subscribe is one hub session per call ([stream.GRPC] in the node's
// statistics), subscribed to every channel of the request from its
// position with the same hub calls as an SSE stream, so a gRPC client
// resumes exactly as every other transport's does. The call's goroutine is
// the stream's only writer: it sends Connected, a Subscribed per channel,
// then drains the session's queue. A publication is encoded once per
// format by the hub (encode.go) and sent as those bytes to every stream of
// the format, through codecs that pass pre-encoded frames through
// (codec.go); the JSON encoding is made only while a JSON stream exists.
//
// Decisions, beside the wire contract (docs/transports.md):
//
//   - Pings without pongs. A server stream gives the client no way to
//     answer, so the hub's pings (every ping_interval, announced in
//     Connected) only prove the stream alive; a client that hears nothing
//     for ping_interval plus a grace period reconnects. A dead client is
//     found by HTTP/2 and the write timeout instead.
//   - The end of a stream. The server's last event is Disconnect (code,
//     reason, reconnect) and the status that follows says the same:
//     Unavailable when the client should reconnect (3001 shutdown, 3002
//     slow, ...), else the code of the cause, with switchboard.v1.Error
//     {code: the disconnect code, message: the reason} in its details.
//     A slow stream is cut by the hub as over WebSocket; what it had
//     queued is dropped and it resumes from its position.
//   - Errors. Every refusal is a status whose gRPC code matches the HTTP
//     status of the project's code ([CodeFor]) and whose details hold a
//     switchboard.v1.Error with that code; an unknown method is
//     Unimplemented with 104. Requests are decoded here rather than by
//     connect so that a malformed one is refused the same way (107); one
//     larger than the node's message size is 112, and one over twice that
//     is refused by connect itself (ResourceExhausted, without details)
//     before it is read.
//   - Refresh names the session by the client id of its Connected event
//     and carries the new token as its authorization. Only streams of the
//     node that answers can be refreshed: a client id it does not serve is
//     refused with 115 ("unknown client"); a client calls Refresh on the
//     connection its stream uses.
//   - Data as text. A publication's data is its JSON text in a string
//     field, the same bytes the other transports carry, so nothing is
//     re-encoded on the way.
//   - Unary calls (Publish, History, Presence, Refresh) hold no session:
//     they run as the token's identity with the hub's *As calls and share
//     the HTTP client commands' per-client budget ([transport.Charge]).
package grpc

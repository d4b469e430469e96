// Package poll is Switchboard's long- and short-polling transport.
//
// A poll is one HTTP request: GET /connection/poll?channel=a&cursor=C. The
// handler opens a hub.Session for the length of the request, subscribes it
// to the channels from the positions the cursor carries, and answers with
// everything that was queued — the replayed history at once, or, for a long
// poll with nothing to replay, the first live publications to arrive before
// the timeout. The reply carries a new cursor; the client's next poll sends
// it back. The cursor carries every position, so any node can answer any
// poll and a node can restart without losing a client's place (within the
// channels' history windows). The one thing kept between polls is a
// shortcut: a long poll's session stays with its kept connection for the
// next poll on it that asks for exactly what the reply said (see
// lingering in linger.go).
//
// Publications are encoded once, in the shape SSE and history share, and
// the same bytes are spliced into the reply of every poll waiting on them.
//
// Over plain HTTP/1.1 on Linux, a long poll with nothing to answer yet
// waits outside net/http: the handler hijacks the connection and parks the
// socket in a shared poller (package internal/netpoll), so a waiting poll
// has no goroutine and no net/http buffers; the reply is written as
// net/http writes it. The handler then keeps the connection: it reads the
// client's next request itself and serves it when it is a plain poll of
// the same path (see conn in keepalive.go), and gives anything else back
// to the http.Server with the bytes it read. A request served so does not
// pass through what the handler is mounted under. [Handler.Wait] waits
// for those polls and closes the kept connections waiting for a request.
// Elsewhere (HTTP/2, TLS, other systems) a poll waits in its request.
//
// The package owns request parsing for polls (the timeout), the hold and
// the reply body. It does not own tokens, origins, CORS, the method check,
// channel lists or cursor parsing (package transport), the endpoints a
// polling client publishes and reads presence and history through (package
// command), the hub's sessions and resume (package hub), the error code
// table (package protocol) or routing: package server mounts the handler.
package poll

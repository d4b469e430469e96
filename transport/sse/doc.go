// Package sse is Switchboard's Server-Sent Events transport: one http.Handler
// for GET /connection/sse?channel=a&channel=b that streams a hub.Session's
// queue to a plain browser EventSource, with no SDK needed.
//
// A stream opens with a retry: line (a reconnect delay with random jitter, so
// a restarted node does not get every browser back in the same millisecond)
// and an event named "connected" whose data says, for each channel, the
// channel's latest position and whether the client's position could be
// recovered. Every publication that follows is an unnamed event, so a plain
// onmessage handler sees publications only:
//
//	data: {"channel":"chat:lobby","epoch":"x1","offset":45,"data":{"text":"hi"},"time":1763884800123}
//	id: AQHC...
//
// The id is a stream.Cursor holding the position of every channel of the
// connection after that event (the connected event's id holds the starting
// positions). A reconnecting EventSource sends it back as Last-Event-ID and
// gets exactly what it missed; the same cursor is accepted as ?cursor= by a
// client that opens a new stream itself, for instance to change channels.
// Keep-alives are events named "ping" (every ping_interval, which the
// connected event states), so a client can tell a silent stream from a dead
// one; join and leave are events named "join" and "leave". When the server ends a stream it sends an event named
// "disconnect" with the protocol's disconnect object. A browser reconnects
// after every end of stream, so a page that wants to honour
// "reconnect":false closes its EventSource in that event's handler; a client
// whose token was refused is stopped by the 401 its next attempt gets.
//
// Over plain HTTP/1.1 on Linux, a stream leaves net/http once its headers
// and first events are out: the handler hijacks the connection, writes the
// rest of the chunked body itself and parks the socket in a shared poller
// (package internal/netpoll) that only notices the client going away, so an
// idle stream has no goroutine and no net/http buffers. The hub's fan-out
// writes a publication to an idle stream itself ([hub.Direct]: one
// non-blocking write); a writer goroutine exists only while something
// cannot go out that way. Such streams are not http.Server's to wait for:
// [Handler.Wait] is. Over HTTP/2, over TLS and on other systems, the
// request's own goroutine is the stream's only writer, and the stream ends
// when the request does. Either way each wake-up drains the whole queue
// into one write, the bytes are the same, and the data line of a
// publication is encoded once by the hub and shared by every SSE
// subscriber; only the id line is written per connection.
//
// The package owns the SSE framing, the connected and disconnect events and
// the per-connection cursor. It does not own tokens, origins, CORS, channel
// lists or error bodies (package transport), the JSON shapes (package
// protocol), or subscriptions, queues and resume (package hub). It never
// imports the other transports.
package sse

// Package ws is Switchboard's WebSocket transport: one http.Handler that
// upgrades a request, speaks protocol v1 (JSON text frames), and binds the
// connection to a hub.Session. A server that reads new connections itself
// can skip net/http for the common case: [Handler.ServeHead] answers a plain
// upgrade from the raw request head and declines anything else, which the
// server then gives to net/http and ServeHTTP as usual.
//
// A connection has a reader goroutine only while the client is sending: on
// Linux an idle connection's socket (and one waiting for connect) is
// watched by one epoll instance shared by the handler, registered once,
// which starts a reader when data arrives (TLS connections,
// and other platforms, keep a reader goroutine parked in a shallow wait).
// A writer goroutine exists only while there is something to write; it owns
// every write and drains the session's queue into a single vectored write,
// so a burst of publications costs one syscall.
// Publications arrive already framed (the WebSocket header is part of the
// bytes the hub encodes once and shares between subscribers).
//
// This is the only package that imports the WebSocket library.
package ws

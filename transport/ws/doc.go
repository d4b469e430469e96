// Package ws is Switchboard's WebSocket transport: one http.Handler that
// upgrades a request, speaks protocol v1 (JSON text frames), and binds the
// connection to a hub.Session.
//
// Each connection has one reader goroutine that decodes commands and one
// writer goroutine that owns every write: it drains the session's queue into
// a single vectored write, so a burst of publications costs one syscall.
// Publications arrive already framed (the WebSocket header is part of the
// bytes the hub encodes once and shares between subscribers).
//
// This is the only package that imports the WebSocket library.
package ws

// Package wsclient is a small client side of RFC 6455 for Switchboard's own
// Go client, tests and load generator: dial, masked text frames out, frames
// in. It keeps the WebSocket library out of everything but transport/ws, and
// it is deliberately plain: no compression, no extensions.
package wsclient

// Package server is a Switchboard node's HTTP face: the mux that puts every
// endpoint on one listener, the HTTP API for application backends, health
// and readiness checks, Prometheus metrics, the demo pages, and the
// http.Server lifecycle with its shutdown order.
//
// It is handed a running *hub.Hub and never builds one, so it never imports a
// broker: which broker backs the node is the command line's business. It owns
// the WebSocket handler it mounts (it builds it from Config) and waits for
// that handler's connections when it shuts down.
//
// Shutdown happens in one order, so that clients move elsewhere and resume
// instead of losing anything: readiness turns 503, the node goes on
// serving for Config.ShutdownDelay while load balancers notice, the
// listener closes, the hub tells every session to reconnect (spread over
// Config.ShutdownDrain so they do not all come back in the same instant),
// and Serve returns once every connection goroutine has ended or
// Config.ShutdownTimeout passes.
package server

// Package command holds the HTTP endpoints through which a client without
// a WebSocket (one on SSE or polling) sends the commands a WebSocket client
// sends as frames:
//
//	POST /connection/publish   publish, like the publish command
//	GET  /connection/presence  who is in a channel, like presence
//	GET  /connection/history   a channel's history, like history
//
// Each is a [Handler], built by NewPublish, NewPresence or NewHistory. The
// client is authenticated as on its stream (Bearer header, ?token=,
// cookie), and the channel's namespace decides, in the hub, whether it may
// do what it asks, exactly as for the WebSocket command.
//
// The package owns these three requests and nothing that lasts beyond one.
// It does not own tokens, origins, CORS, the method check, history
// parameters or the JSON body reader and writer (package transport), the
// body shapes (package protocol), the permissions (package hub) or routing:
// package server mounts the handlers. It imports no other transport.
package command

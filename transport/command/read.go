package command

import (
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// The two commands that only read: presence and history. Both name one
// channel, and the hub checks the client may read it.

// NewPresence returns the Handler that tells clients who is in a channel:
//
//	GET /connection/presence?channel=chat:lobby
//	→ {"channel":"chat:lobby","clients":[{"client":"c1","user":"u1","info":{...}}]}
//
// The reply is a [protocol.PresenceReply], as for the HTTP API's
// GET /api/presence. It is read as the client ([hub.Hub.PresenceAs]), so the
// channel's namespace decides whether it may, as for the WebSocket presence
// command. NewPresence panics if cfg.Hub is nil.
func NewPresence(cfg Config) *Handler {
	h := newHandler(cfg, "NewPresence", "client presence", get)
	h.answer = h.presence
	return h
}

func (h *Handler) presence(_ http.ResponseWriter, r *http.Request, id stream.Identity, values url.Values) (any, error) {
	channel := values.Get("channel")
	clients, err := h.cfg.Hub.PresenceAs(r.Context(), id, channel)
	return protocol.NewPresenceReply(channel, clients), err
}

// NewHistory returns the Handler that lets clients read a channel's
// history:
//
//	GET /connection/history?channel=chat:lobby&since_epoch=x1&since_offset=41&limit=10&reverse=true
//	→ {"channel":"chat:lobby","epoch":"x1","offset":45,"publications":[...]}
//
// The parameters are those of the HTTP API's GET /api/history
// ([transport.HistoryQuery]) and the reply is a [protocol.HistoryReply], the
// fields of the WebSocket history reply. It is read as the client
// ([hub.Hub.HistoryAs]), so the channel's namespace decides whether it may,
// as for the WebSocket history command. NewHistory panics if cfg.Hub is
// nil.
func NewHistory(cfg Config) *Handler {
	h := newHandler(cfg, "NewHistory", "client history", get)
	h.answer = h.history
	return h
}

func (h *Handler) history(_ http.ResponseWriter, r *http.Request, id stream.Identity, values url.Values) (any, error) {
	// A limit over the maximum is refused rather than capped: a client
	// asking for more than it can get is a bug better seen early.
	q, err := transport.HistoryQuery(values, transport.RefuseLimit)
	if err != nil {
		return nil, err
	}
	channel := values.Get("channel")
	page, err := h.cfg.Hub.HistoryAs(r.Context(), id, channel, q)
	return protocol.NewHistoryReply(channel, page), err
}

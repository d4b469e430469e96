package command

import (
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// PresenceHandler tells clients that hold no WebSocket who is in a channel:
//
//	GET /connection/presence?channel=chat:lobby
//	→ {"channel":"chat:lobby","clients":[{"client":"c1","user":"u1","info":{...}}]}
//
// The reply is a [protocol.PresenceReply], as for the HTTP API's
// GET /api/presence. It is read as the client ([hub.Hub.PresenceAs]), so the
// channel's namespace decides whether it may, as for the WebSocket presence
// command. It is safe for concurrent use.
type PresenceHandler struct {
	cfg Config
}

var _ http.Handler = (*PresenceHandler)(nil)

// NewPresence returns a PresenceHandler for cfg. It panics if cfg.Hub is
// nil.
func NewPresence(cfg Config) *PresenceHandler {
	return &PresenceHandler{cfg: cfg.withDefaults("NewPresence")}
}

// ServeHTTP answers one presence request.
func (h *PresenceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serve(&h.cfg, "client presence", get, w, r, func(id stream.Identity, values url.Values) (any, error) {
		channel := values.Get("channel")
		clients, err := h.cfg.Hub.PresenceAs(r.Context(), id, channel)
		if err != nil {
			return nil, err
		}
		return protocol.NewPresenceReply(channel, clients), nil
	})
}

package poll

import (
	"net/http"

	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// PresenceHandler tells clients that hold no WebSocket who is in a channel:
//
//	GET /connection/presence?channel=chat:lobby
//	→ {"channel":"chat:lobby","clients":[{"client":"c1","user":"u1","info":{...}}]}
//
// The client is authenticated like a poll (Bearer header, ?token=, cookie)
// and the channel's namespace decides whether it may read presence, as for
// the WebSocket presence command. It is safe for concurrent use.
type PresenceHandler struct {
	cfg Config
}

var _ http.Handler = (*PresenceHandler)(nil)

// NewPresence returns a PresenceHandler for cfg. It panics if cfg.Hub is
// nil.
func NewPresence(cfg Config) *PresenceHandler {
	return &PresenceHandler{cfg: cfg.withDefaults("NewPresence")}
}

// PresenceReply is the answer of GET /connection/presence and of the HTTP
// API's GET /api/presence.
type PresenceReply struct {
	Channel string              `json:"channel"`
	Clients []stream.ClientInfo `json:"clients"`
}

// ServeHTTP answers one presence request.
func (h *PresenceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if transport.CORS(w, r, h.cfg.Origins, corsMethods) || !allowMethod(w, r, http.MethodGet) {
		return
	}
	values := r.URL.Query()
	id, err := transport.Authenticate(h.cfg.Verifier, transport.Token(r, values, h.cfg.TokenCookie))
	if err != nil {
		h.fail(w, err)
		return
	}
	channel := values.Get("channel")
	clients, err := h.cfg.Hub.PresenceAs(r.Context(), id, channel)
	if err != nil {
		h.fail(w, err)
		return
	}
	if clients == nil {
		clients = []stream.ClientInfo{}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	transport.WriteJSON(w, http.StatusOK, PresenceReply{Channel: channel, Clients: clients})
}

func (h *PresenceHandler) fail(w http.ResponseWriter, err error) {
	logInternal(h.cfg, "client presence", err)
	transport.WriteError(w, err)
}

package poll

import (
	"context"
	"net/http"
	"net/url"

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
	answerQuery(h.cfg, "client presence", w, r, func(ctx context.Context, id stream.Identity, values url.Values) (any, error) {
		channel := values.Get("channel")
		clients, err := h.cfg.Hub.PresenceAs(ctx, id, channel)
		if err != nil {
			return nil, err
		}
		if clients == nil {
			clients = []stream.ClientInfo{}
		}
		return PresenceReply{Channel: channel, Clients: clients}, nil
	})
}

// answerQuery serves a client's read-only GET (presence, history): CORS
// and method, the client's token, then answer's reply as JSON no cache
// keeps, or its error from the one code table. what names the request in
// the log of an internal error.
func answerQuery(cfg Config, what string, w http.ResponseWriter, r *http.Request,
	answer func(ctx context.Context, id stream.Identity, values url.Values) (any, error)) {
	if transport.CORS(w, r, cfg.Origins, corsMethods) || !allowMethod(w, r, http.MethodGet) {
		return
	}
	values := r.URL.Query()
	id, err := transport.Authenticate(cfg.Verifier, transport.Token(r, values, cfg.TokenCookie))
	var reply any
	if err == nil {
		reply, err = answer(r.Context(), id, values)
	}
	if err != nil {
		logInternal(cfg, what, err)
		transport.WriteError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	transport.WriteJSON(w, http.StatusOK, reply)
}

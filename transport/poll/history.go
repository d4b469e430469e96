package poll

import (
	"net/http"

	"github.com/switchboardhq/switchboard/transport"
)

// HistoryHandler lets clients that hold no WebSocket read a channel's
// history:
//
//	GET /connection/history?channel=chat:lobby&since_epoch=x1&since_offset=41&limit=10&reverse=true
//	→ {"channel":"chat:lobby","epoch":"x1","offset":45,"publications":[...]}
//
// The parameters are those of the HTTP API's GET /api/history and the
// answer has the fields of the WebSocket history reply. The client is
// authenticated like a poll (Bearer header, ?token=, cookie) and the
// channel's namespace decides whether it may read history, as for the
// WebSocket history command. It is safe for concurrent use.
type HistoryHandler struct {
	cfg Config
}

var _ http.Handler = (*HistoryHandler)(nil)

// NewHistory returns a HistoryHandler for cfg. It panics if cfg.Hub is nil.
func NewHistory(cfg Config) *HistoryHandler {
	return &HistoryHandler{cfg: cfg.withDefaults("NewHistory")}
}

// ServeHTTP answers one history request.
func (h *HistoryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if transport.CORS(w, r, h.cfg.Origins, corsMethods) || !allowMethod(w, r, http.MethodGet) {
		return
	}
	values := r.URL.Query()
	id, err := transport.Authenticate(h.cfg.Verifier, transport.Token(r, values, h.cfg.TokenCookie))
	if err != nil {
		h.fail(w, err)
		return
	}
	// A limit over the maximum is refused rather than capped: a client
	// asking for more than it can get is a bug better seen early.
	q, err := transport.HistoryQuery(values, transport.RefuseLimit)
	if err != nil {
		h.fail(w, err)
		return
	}
	channel := values.Get("channel")
	page, err := h.cfg.Hub.HistoryAs(r.Context(), id, channel, q)
	if err != nil {
		h.fail(w, err)
		return
	}
	reply := transport.NewHistoryReply(channel, page)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	transport.WriteJSON(w, http.StatusOK, reply)
}

func (h *HistoryHandler) fail(w http.ResponseWriter, err error) {
	logInternal(h.cfg, "client history", err)
	transport.WriteError(w, err)
}

package command

import (
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// HistoryHandler lets clients that hold no WebSocket read a channel's
// history:
//
//	GET /connection/history?channel=chat:lobby&since_epoch=x1&since_offset=41&limit=10&reverse=true
//	→ {"channel":"chat:lobby","epoch":"x1","offset":45,"publications":[...]}
//
// The parameters are those of the HTTP API's GET /api/history
// ([transport.HistoryQuery]) and the reply is a [protocol.HistoryReply], the
// fields of the WebSocket history reply. It is read as the client
// ([hub.Hub.HistoryAs]), so the channel's namespace decides whether it may,
// as for the WebSocket history command. It is safe for concurrent use.
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
	serve(&h.cfg, "client history", get, w, r, func(id stream.Identity, values url.Values) (any, error) {
		// A limit over the maximum is refused rather than capped: a client
		// asking for more than it can get is a bug better seen early.
		q, err := transport.HistoryQuery(values, transport.RefuseLimit)
		if err != nil {
			return nil, err
		}
		channel := values.Get("channel")
		page, err := h.cfg.Hub.HistoryAs(r.Context(), id, channel, q)
		if err != nil {
			return nil, err
		}
		return protocol.NewHistoryReply(channel, page), nil
	})
}

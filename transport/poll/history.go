package poll

import (
	"context"
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/stream"
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
	answerQuery(h.cfg, "client history", w, r, func(ctx context.Context, id stream.Identity, values url.Values) (any, error) {
		// A limit over the maximum is refused rather than capped: a client
		// asking for more than it can get is a bug better seen early.
		q, err := transport.HistoryQuery(values, transport.RefuseLimit)
		if err != nil {
			return nil, err
		}
		channel := values.Get("channel")
		page, err := h.cfg.Hub.HistoryAs(ctx, id, channel, q)
		if err != nil {
			return nil, err
		}
		return transport.NewHistoryReply(channel, page), nil
	})
}

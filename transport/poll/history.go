package poll

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// History pages are bounded, as for the WebSocket history command, so one
// request cannot ask for a huge reply.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
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

// HistoryReply is the answer of GET /connection/history: the channel's
// latest position and the selected publications, each in the shape every
// transport sends.
type HistoryReply struct {
	Channel      string            `json:"channel"`
	Epoch        string            `json:"epoch"`
	Offset       uint64            `json:"offset"`
	Publications []json.RawMessage `json:"publications"`
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
	q, err := historyQuery(values)
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
	reply := HistoryReply{
		Channel:      channel,
		Epoch:        page.Latest.Epoch,
		Offset:       page.Latest.Offset,
		Publications: make([]json.RawMessage, 0, len(page.Publications)),
	}
	for _, p := range page.Publications {
		reply.Publications = append(reply.Publications, protocol.AppendPublication(nil, p))
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	transport.WriteJSON(w, http.StatusOK, reply)
}

// historyQuery reads limit, reverse, since_epoch and since_offset as
// GET /api/history does, except that a limit over the maximum is refused
// rather than capped: a client asking for more than it can get is a bug
// better seen early.
func historyQuery(values url.Values) (stream.HistoryQuery, error) {
	q := stream.HistoryQuery{Limit: defaultHistoryLimit}
	if v := values.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxHistoryLimit {
			return q, fmt.Errorf("%w: limit must be a whole number from 0 to %d", stream.ErrBadRequest, maxHistoryLimit)
		}
		q.Limit = n
	}
	if v := values.Get("reverse"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return q, fmt.Errorf("%w: reverse must be true or false", stream.ErrBadRequest)
		}
		q.Reverse = b
	}
	epoch, offset := values.Get("since_epoch"), values.Get("since_offset")
	switch {
	case epoch != "":
		since := stream.Position{Epoch: epoch}
		if offset != "" {
			n, err := strconv.ParseUint(offset, 10, 64)
			if err != nil {
				return q, fmt.Errorf("%w: since_offset must be a whole number", stream.ErrBadRequest)
			}
			since.Offset = n
		}
		q.Since = &since
	case offset != "":
		// An offset means nothing outside its epoch.
		return q, fmt.Errorf("%w: since_offset needs since_epoch", stream.ErrBadRequest)
	}
	return q, nil
}

func (h *HistoryHandler) fail(w http.ResponseWriter, err error) {
	logInternal(h.cfg, "client history", err)
	transport.WriteError(w, err)
}

package command

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// bodySlack is what a publish body may hold beyond the largest
// publication: the channel name, the key and the JSON around them.
const bodySlack = 4 << 10

// NewPublish returns the Handler that lets clients publish:
//
//	POST /connection/publish {"channel":"chat:lobby","data":{"text":"hi"},"key":"k-1"}
//	→ {"epoch":"x1","offset":45}
//
// The body is a [protocol.PublishRequest] and the reply a
// [protocol.PublishReply], as for the HTTP API's POST /api/publish. The
// publication is made as the client ([hub.Hub.PublishAs]), so the channel's
// namespace decides whether it may publish. A repeated key answers with the
// first publication's position and "duplicate":true. NewPublish panics if
// cfg.Hub is nil.
func NewPublish(cfg Config) *Handler {
	h := newHandler(cfg, "NewPublish", "client publish", post)
	h.answer = h.publish
	h.maxBody = int64(cfg.Hub.Config().MaxMessageSize) + bodySlack
	return h
}

// publish reads the body, requiring channel and data, and publishes. Data
// is normalized (valid UTF-8, compact) so a publication is stored and
// replayed as the same bytes whichever way it came in.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request, id stream.Identity, _ url.Values) (any, error) {
	var req protocol.PublishRequest
	if err := transport.ReadJSON(w, r, h.maxBody, &req); err != nil {
		return nil, err
	}
	if req.Channel == "" {
		return nil, fmt.Errorf("%w: channel is required", stream.ErrBadRequest)
	}
	data, err := protocol.RequireData(req.Data)
	if err != nil {
		return nil, err
	}
	res, err := h.cfg.Hub.PublishAs(r.Context(), id, stream.PublishRequest{Channel: req.Channel, Data: data, Key: req.Key})
	return protocol.NewPublishReply(res), err
}

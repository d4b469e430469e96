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

// PublishHandler lets clients that hold no WebSocket publish:
//
//	POST /connection/publish {"channel":"chat:lobby","data":{"text":"hi"},"key":"k-1"}
//	→ {"epoch":"x1","offset":45}
//
// The body is a [protocol.PublishRequest] and the reply a
// [protocol.PublishReply], as for the HTTP API's POST /api/publish; the
// publication is made as the client ([hub.Hub.PublishAs]), so the channel's
// namespace decides whether it may publish. A repeated key answers with the
// first publication's position and "duplicate":true. It is safe for
// concurrent use.
type PublishHandler struct {
	cfg     Config
	maxBody int64
}

var _ http.Handler = (*PublishHandler)(nil)

// NewPublish returns a PublishHandler for cfg. It panics if cfg.Hub is nil.
func NewPublish(cfg Config) *PublishHandler {
	cfg = cfg.withDefaults("NewPublish")
	return &PublishHandler{cfg: cfg, maxBody: int64(cfg.Hub.Config().MaxMessageSize) + bodySlack}
}

// ServeHTTP publishes one message.
func (h *PublishHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serve(&h.cfg, "client publish", post, w, r, func(id stream.Identity, _ url.Values) (any, error) {
		req, err := h.read(w, r)
		if err != nil {
			return nil, err
		}
		res, err := h.cfg.Hub.PublishAs(r.Context(), id, stream.PublishRequest{Channel: req.Channel, Data: req.Data, Key: req.Key})
		if err != nil {
			return nil, err
		}
		return protocol.NewPublishReply(res), nil
	})
}

// read reads the body, requiring channel and data. Data is normalized
// (valid UTF-8, compact) so a publication is stored and replayed as the
// same bytes whichever way it came in.
func (h *PublishHandler) read(w http.ResponseWriter, r *http.Request) (protocol.PublishRequest, error) {
	var req protocol.PublishRequest
	if err := transport.ReadJSON(w, r, h.maxBody, &req); err != nil {
		return req, err
	}
	if req.Channel == "" {
		return req, fmt.Errorf("%w: channel is required", stream.ErrBadRequest)
	}
	var err error
	req.Data, err = protocol.RequireData(req.Data)
	return req, err
}

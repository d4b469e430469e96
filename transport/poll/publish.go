package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// PublishHandler lets clients that hold no WebSocket publish:
//
//	POST /connection/publish {"channel":"chat:lobby","data":{"text":"hi"},"key":"k-1"}
//	→ {"epoch":"x1","offset":45}
//
// The client is authenticated like a poll (Bearer header, ?token=, cookie)
// and the channel's namespace decides whether it may publish. A repeated
// key answers with the first publication's position and "duplicate":true,
// as the HTTP API does. It is safe for concurrent use.
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

type publishRequest struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	Key     string          `json:"key"`
}

type publishReply struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// ServeHTTP publishes one message.
func (h *PublishHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if transport.CORS(w, r, h.cfg.Origins, corsMethods) || !allowMethod(w, r, http.MethodPost) {
		return
	}
	// Authenticate before reading the body: a client that may not publish
	// at all should not get to upload a whole body first.
	id, err := transport.Authenticate(h.cfg.Verifier, transport.Token(r, r.URL.Query(), h.cfg.TokenCookie))
	if err != nil {
		h.fail(w, err)
		return
	}
	req, err := h.decode(w, r)
	if err != nil {
		h.fail(w, err)
		return
	}
	res, err := h.cfg.Hub.PublishAs(r.Context(), id, stream.PublishRequest{Channel: req.Channel, Data: req.Data, Key: req.Key})
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	transport.WriteJSON(w, http.StatusOK, publishReply{Epoch: res.Epoch, Offset: res.Offset, Duplicate: res.Duplicate})
}

// decode reads one JSON object of at most maxBody bytes, requiring channel
// and data. Data is normalized (valid UTF-8, compact) so a publication is
// stored and replayed as the same bytes whichever way it came in. Unknown
// fields are ignored, so newer clients may send more.
func (h *PublishHandler) decode(w http.ResponseWriter, r *http.Request) (publishRequest, error) {
	var req publishRequest
	if r.ContentLength > h.maxBody {
		return req, fmt.Errorf("%w: request body of %d bytes, at most %d", stream.ErrMessageTooLarge, r.ContentLength, h.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, fmt.Errorf("%w: request body over %d bytes", stream.ErrMessageTooLarge, h.maxBody)
		}
		return req, fmt.Errorf("%w: reading the request body: %v", stream.ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: malformed JSON: %s", stream.ErrBadRequest, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, fmt.Errorf("%w: malformed JSON: more than one value in the body", stream.ErrBadRequest)
	}
	switch {
	case req.Channel == "":
		return req, fmt.Errorf("%w: channel is required", stream.ErrBadRequest)
	case req.Data == nil:
		return req, fmt.Errorf("%w: data is required (any JSON value)", stream.ErrBadRequest)
	}
	if req.Data, err = protocol.NormalizeData(req.Data); err != nil {
		return req, err
	}
	return req, nil
}

// jsonProblem says what is wrong with a body in terms of the request rather
// than Go types.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}

func (h *PublishHandler) fail(w http.ResponseWriter, err error) {
	logInternal(h.cfg, "client publish", err)
	transport.WriteError(w, err)
}

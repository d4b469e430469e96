package command

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// Handler answers one of the endpoints; NewPublish, NewPresence and
// NewHistory build one each. Every request goes the same way: CORS and the
// method, then the client's token, then the command, whose reply is written
// as JSON, or whose error is written from the one code table. It keeps no
// state between requests and is safe for concurrent use.
type Handler struct {
	cfg     Config
	what    string // names the request in the log of an internal error
	methods transport.Methods
	// answer runs the command for the client id. It must not write to w;
	// it has it for transport.ReadJSON.
	answer func(w http.ResponseWriter, r *http.Request, id stream.Identity, values url.Values) (any, error)
	// maxBody caps a request body; 0 for the endpoints that read none.
	maxBody int64
}

var _ http.Handler = (*Handler)(nil)

var (
	get  = transport.NewMethods(http.MethodGet, http.MethodOptions)
	post = transport.NewMethods(http.MethodPost, http.MethodOptions)
)

func newHandler(cfg Config, constructor, what string, methods transport.Methods) *Handler {
	if cfg.Hub == nil {
		panic("command." + constructor + ": Config.Hub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, what: what, methods: methods}
}

// ServeHTTP answers one request. The token is checked before the command
// runs, so a client that may do nothing at all does not get to upload a
// body first.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if transport.CORS(w, r, h.cfg.Origins, transport.ClientCORSMethods) || !h.methods.Allow(w, r) {
		return
	}
	values, err := transport.Query(r)
	var id stream.Identity
	if err == nil {
		id, err = transport.Authenticate(h.cfg.Verifier, transport.Token(r, values, h.cfg.TokenCookie))
	}
	var reply any
	if err == nil {
		reply, err = h.answer(w, r, id, values)
	}
	if err != nil {
		transport.Fail(w, h.cfg.Logger, h.what, err)
		return
	}
	transport.WriteJSON(w, http.StatusOK, reply)
}

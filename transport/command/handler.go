package command

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

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
//
// Then the client's request budget (Config.Limiter) is charged: a client
// over it gets 429, code 110, and a Retry-After header saying in how many
// seconds it may try again. A client is its token's subject, so a user's
// budget is the same on every address; without a valid token it is its
// address (an IPv6 one by its /64, which one host usually holds whole). A
// client id is not part of it: a client chooses its own, and could
// otherwise take a fresh budget with every request. Behind a proxy every
// anonymous client has the proxy's address, and shares one budget.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if transport.CORS(w, r, h.cfg.Origins, transport.ClientCORSMethods) || !h.methods.Allow(w, r) {
		return
	}
	values, err := transport.Query(r)
	var id stream.Identity
	if err == nil {
		id, err = transport.Authenticate(h.cfg.Verifier, transport.Token(r, values, h.cfg.TokenCookie))
	}
	if !h.allow(w, r, id) {
		return
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

// allow charges the client's budget, answering 429 when it is spent.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, id stream.Identity) bool {
	secs, err := transport.Charge(h.cfg.Limiter, r.RemoteAddr, id)
	if err == nil {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	transport.WriteError(w, err)
	return false
}

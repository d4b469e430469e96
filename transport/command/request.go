package command

import (
	"net/http"
	"net/url"

	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

var (
	get  = transport.NewMethods(http.MethodGet, http.MethodOptions)
	post = transport.NewMethods(http.MethodPost, http.MethodOptions)
)

// serve answers one request the way every endpoint here does: CORS and the
// method m, then the client's token, then answer's reply as JSON, or the
// first error from the one code table. what names the request in the log of
// an internal error.
//
// The token is checked before answer runs, so a client that may do nothing
// at all does not get to upload a body first.
func serve(cfg *Config, what string, m transport.Methods, w http.ResponseWriter, r *http.Request,
	answer func(id stream.Identity, values url.Values) (any, error)) {
	if transport.CORS(w, r, cfg.Origins, transport.ClientCORSMethods) || !m.Allow(w, r) {
		return
	}
	values := r.URL.Query()
	id, err := transport.Authenticate(cfg.Verifier, transport.Token(r, values, cfg.TokenCookie))
	var reply any
	if err == nil {
		reply, err = answer(id, values)
	}
	if err != nil {
		transport.Fail(w, cfg.Logger, what, err)
		return
	}
	transport.WriteJSON(w, http.StatusOK, reply)
}

package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// apiFunc is an API endpoint: it writes its own success response and returns
// an error (wrapping a stream sentinel) for everything else, which api turns
// into the one JSON error shape.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// api wraps an endpoint with the method check, the API-key check and error
// rendering.
func (s *Server) api(f apiFunc, methods ...string) http.Handler {
	return s.bound(allow(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r.Header); err != nil {
			transport.WriteError(w, err)
			return
		}
		if err := f(w, r); err != nil {
			// Internal errors reach the client as a bare "internal error";
			// the detail belongs in the log.
			if e := protocol.ErrorFor(err); e.HTTPStatus() >= 500 {
				s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			transport.WriteError(w, err)
		}
	}), methods...))
}

// authorize checks `Authorization: apikey <key>` in constant time, so the
// key cannot be guessed byte by byte from response times. The HTTP API and
// the gRPC API service (whose metadata are these headers) both call it.
func (s *Server) authorize(h http.Header) error {
	if s.cfg.APIKey == "" {
		return fmt.Errorf("%w: the node has no API key configured", stream.ErrUnauthorized)
	}
	scheme, key, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "apikey") {
		return fmt.Errorf("%w: send the header \"Authorization: apikey <key>\"", stream.ErrUnauthorized)
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), []byte(s.cfg.APIKey)) != 1 {
		return fmt.Errorf("%w: wrong API key", stream.ErrUnauthorized)
	}
	return nil
}

// allow refuses methods other than the given ones with 405 and an Allow
// header, in the API's JSON error shape. GET admits HEAD too.
func allow(h http.Handler, methods ...string) http.Handler {
	var list []string
	for _, m := range methods {
		list = append(list, m)
		if m == http.MethodGet {
			list = append(list, http.MethodHead)
		}
	}
	allowed := transport.NewMethods(list...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed.Allow(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// notFound answers API paths that name no endpoint.
func notFound(w http.ResponseWriter, r *http.Request) error {
	return &transport.StatusError{Status: http.StatusNotFound, Err: fmt.Errorf("%w: no API endpoint %s", stream.ErrBadRequest, r.URL.Path)}
}

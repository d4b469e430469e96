package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	return allow(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r); err != nil {
			writeError(w, err)
			return
		}
		if err := f(w, r); err != nil {
			// Internal errors reach the client as a bare "internal error";
			// the detail belongs in the log.
			if e := protocol.ErrorFor(err); e.HTTPStatus() >= 500 {
				s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		}
	}), methods...)
}

// authorize checks `Authorization: apikey <key>` in constant time, so the
// key cannot be guessed byte by byte from response times.
func (s *Server) authorize(r *http.Request) error {
	if s.cfg.APIKey == "" {
		return fmt.Errorf("%w: the node has no API key configured", stream.ErrUnauthorized)
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
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
	ok := make(map[string]bool, len(list))
	for _, m := range list {
		ok[m] = true
	}
	allowHeader := strings.Join(list, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok[r.Method] {
			w.Header().Set("Allow", allowHeader)
			transport.MethodNotAllowed(w, r.Method, allowHeader)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// notFound answers API paths that name no endpoint.
func notFound(w http.ResponseWriter, r *http.Request) error {
	return &statusError{http.StatusNotFound, fmt.Errorf("%w: no API endpoint %s", stream.ErrBadRequest, r.URL.Path)}
}

// statusError carries an HTTP status the code table would not pick, such as
// 404 for an unknown path, with the coded error for the body.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// writeError renders err as {"error":{"code":N,"message":"..."}} with the
// status of its code.
func writeError(w http.ResponseWriter, err error) {
	var se *statusError
	if errors.As(err, &se) {
		transport.WriteErrorStatus(w, se.status, se.err)
		return
	}
	transport.WriteError(w, err)
}

// writeJSON writes v as the whole response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types get here; they always encode.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":100,"message":"internal error"}}`)
	}
	writeRaw(w, status, append(b, '\n'))
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decode reads a request body of at most max bytes holding exactly one JSON
// object into v. Unknown fields are ignored, so backends can send fields a
// newer node understands.
func decode(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: request body over %d bytes", stream.ErrMessageTooLarge, max)
		}
		return fmt.Errorf("%w: reading the request body: %v", stream.ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %s", stream.ErrBadRequest, jsonProblem(err))
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: malformed JSON: more than one value in the body", stream.ErrBadRequest)
	}
	return nil
}

// jsonProblem says what is wrong with a body in terms of the request rather
// than Go types.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// errorDetail is a coded error inside a JSON body, as in a broadcast result.
type errorDetail struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

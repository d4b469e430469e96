package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// ReadJSON reads a request body of at most max bytes holding exactly one
// JSON value into v. A body over max is stream.ErrMessageTooLarge, refused
// from its Content-Length before any of it is read when it declares one;
// anything else wrong with it, a body that is not UTF-8 included, is
// stream.ErrBadRequest, with a message in terms of the request rather than
// of Go types. Unknown fields are ignored,
// so clients and backends may send fields a newer node understands.
//
// The client publish endpoint and the HTTP API read their bodies here, so
// the same mistake gets the same answer from both.
func ReadJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if r.ContentLength > max {
		return fmt.Errorf("%w: request body of %d bytes, at most %d", stream.ErrMessageTooLarge, r.ContentLength, max)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: request body over %d bytes", stream.ErrMessageTooLarge, max)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The rest of the body may still come: the connection cannot
			// carry another request, so it ends with this answer.
			w.Header().Set("Connection", "close")
			return &StatusError{Status: http.StatusRequestTimeout,
				Err: fmt.Errorf("%w: the request body did not arrive within the read timeout", stream.ErrBadRequest)}
		}
		return fmt.Errorf("%w: reading the request body: %v", stream.ErrBadRequest, err)
	}
	// encoding/json would read invalid UTF-8 as U+FFFD, so two different
	// idempotency keys ("\xff", "\xfe") would arrive as one and the second
	// publication would be answered duplicate and never stored. A body is
	// text, exactly as sent, or refused.
	if err := protocol.CheckText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %s", stream.ErrBadRequest, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: malformed JSON: more than one value in the body", stream.ErrBadRequest)
	}
	return nil
}

// jsonProblem says what is wrong with a body in terms of the request rather
// than Go types.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
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

// WriteJSON writes v as the whole response body, on one line, with the
// headers every JSON answer of the node carries: no cache may keep it, and
// no browser may sniff it as anything but JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the node's own reply types get here; they always encode.
		WriteError(w, fmt.Errorf("encoding the reply: %w", err))
		return
	}
	writeBody(w, status, append(b, '\n'))
}

// WriteError writes a coded JSON error with its HTTP status (that of a
// [StatusError] when err is one, else the code table's):
//
//	{"error":{"code":103,"message":"permission denied"}}
func WriteError(w http.ResponseWriter, err error) {
	if se, ok := errors.AsType[*StatusError](err); ok {
		WriteErrorStatus(w, se.Status, se.Err)
		return
	}
	WriteErrorStatus(w, protocol.ErrorFor(err).HTTPStatus(), err)
}

// StatusError carries an HTTP status the code table would not pick, such
// as 404 for an unknown path or 408 for a body that did not arrive in time,
// with the coded error for the body.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// WriteErrorStatus writes a coded JSON error with a status the code table
// would not pick (405 for a wrong method, 404 for an unknown path).
func WriteErrorStatus(w http.ResponseWriter, status int, err error) {
	writeBody(w, status, append(protocol.AppendErrorBody(nil, protocol.ErrorFor(err)), '\n'))
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client may be gone; there is no one to tell
}

// Fail refuses a request with err as WriteError does, logging it first when
// it is the node's fault (a 500): the client is told only "internal error",
// so the detail must reach the log. what names the request in the log.
func Fail(w http.ResponseWriter, log *slog.Logger, what string, err error) {
	if protocol.ErrorFor(err).HTTPStatus() == http.StatusInternalServerError {
		log.Error(what+" failed", "err", err)
	}
	WriteError(w, err)
}

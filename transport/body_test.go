package transport_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// TestReadJSON: one reader, one message per mistake, for the client
// publish endpoint and the HTTP API alike.
func TestReadJSON(t *testing.T) {
	type body struct {
		Channel  string   `json:"channel"`
		Channels []string `json:"channels"`
		N        int      `json:"n"`
	}
	for _, tc := range []struct {
		name, body string
		chunked    bool
		want       error
		message    string
	}{
		{name: "one object", body: ` {"channel":"a","n":2,"later":true} ` + "\n"},
		{name: "empty", body: ``, want: stream.ErrBadRequest, message: "bad request: malformed JSON: empty body"},
		{name: "malformed", body: `{"channel":`, want: stream.ErrBadRequest, message: "bad request: malformed JSON: unexpected EOF"},
		{name: "two values", body: `{} {}`, want: stream.ErrBadRequest, message: "bad request: malformed JSON: more than one value in the body"},
		{name: "trailing garbage", body: `{} x`, want: stream.ErrBadRequest, message: "bad request: malformed JSON: more than one value in the body"},
		{name: "string expected", body: `{"channel":7}`, want: stream.ErrBadRequest, message: `bad request: malformed JSON: field "channel" must be a string, not number`},
		{name: "array expected", body: `{"channels":"a"}`, want: stream.ErrBadRequest, message: `bad request: malformed JSON: field "channels" must be an array, not string`},
		{name: "number expected", body: `{"n":"2"}`, want: stream.ErrBadRequest, message: `bad request: malformed JSON: field "n" must be a number, not string`},
		{name: "not UTF-8", body: "{\"channel\":\"a\xff\"}", want: stream.ErrBadRequest, message: "bad request: invalid UTF-8 at byte 13 (a frame or body must be UTF-8 text)"},
		{name: "over the limit", body: `{"channel":"` + strings.Repeat("x", 64) + `"}`, want: stream.ErrMessageTooLarge,
			message: "message too large: request body of 78 bytes, at most 40"},
		{name: "over the limit, no length", body: `{"channel":"` + strings.Repeat("x", 64) + `"}`, chunked: true, want: stream.ErrMessageTooLarge,
			message: "message too large: request body over 40 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
				r.Body = io.NopCloser(r.Body)
			}
			var v body
			err := transport.ReadJSON(httptest.NewRecorder(), r, 40, &v)
			if tc.want == nil {
				if err != nil || v.Channel != "a" || v.N != 2 {
					t.Fatalf("read %+v, %v", v, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || err.Error() != tc.message {
				t.Fatalf("error %v, want %q", err, tc.message)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	transport.WriteJSON(w, http.StatusCreated, protocol.PublishReply{Epoch: "x<1>", Offset: 3})
	h := w.Header()
	if w.Code != http.StatusCreated || h.Get("Content-Type") != "application/json" ||
		h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%d %v", w.Code, h)
	}
	if got := w.Body.String(); got != `{"epoch":"x\u003c1\u003e","offset":3}`+"\n" {
		t.Fatalf("body %q", got)
	}

	// A value that cannot be encoded is the node's fault: a coded 500.
	w = httptest.NewRecorder()
	transport.WriteJSON(w, http.StatusOK, map[string]any{"f": func() {}})
	if w.Code != http.StatusInternalServerError || w.Body.String() != `{"error":{"code":100,"message":"internal error"}}`+"\n" {
		t.Fatalf("unencodable: %d %s", w.Code, w.Body)
	}
}

func TestMethods(t *testing.T) {
	get := transport.NewMethods(http.MethodGet, http.MethodHead)
	withOptions := transport.NewMethods(http.MethodPost, http.MethodOptions)
	for _, tc := range []struct {
		m      transport.Methods
		method string
		status int // 0: let through
		allow  string
	}{
		{get, http.MethodGet, 0, ""},
		{get, http.MethodHead, 0, ""},
		{get, http.MethodPost, http.StatusMethodNotAllowed, "GET, HEAD"},
		{get, http.MethodOptions, http.StatusMethodNotAllowed, "GET, HEAD"},
		{withOptions, http.MethodPost, 0, ""},
		{withOptions, http.MethodOptions, http.StatusNoContent, "POST, OPTIONS"},
		{withOptions, http.MethodGet, http.StatusMethodNotAllowed, "POST, OPTIONS"},
	} {
		w := httptest.NewRecorder()
		through := tc.m.Allow(w, httptest.NewRequest(tc.method, "/", nil))
		if through != (tc.status == 0) || (!through && w.Code != tc.status) || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s to %q: through %v, %d, Allow %q", tc.method, tc.allow, through, w.Code, w.Header().Get("Allow"))
		}
		if tc.status == http.StatusMethodNotAllowed && errorCode(t, w.Body.String()) != 107 {
			t.Errorf("%s: body %s", tc.method, w.Body)
		}
	}
}

// errorCode reads the code of a coded error body.
func errorCode(t *testing.T, body string) uint32 {
	t.Helper()
	f, err := protocol.DecodeFrame([]byte(body))
	if err != nil || f.Error == nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return f.Error.Code
}

// FuzzReadJSON: whatever a body holds, ReadJSON reads one value or refuses
// it as a bad request or a body too large, never anything else.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		`{"channel":"chat:a","data":{"text":"hi"},"key":"k-1"}`,
		`{"channel":7}`, `{} {}`, `{"data":`, ``, `[1]`, `null`, "\"\xff\"",
		`{"channel":"` + strings.Repeat("x", 100) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(b)))
		var req protocol.PublishRequest
		err := transport.ReadJSON(httptest.NewRecorder(), r, 64, &req)
		switch {
		case err == nil && len(b) > 64:
			t.Fatalf("read %d bytes over the limit of 64", len(b))
		case err == nil && !utf8.Valid(b):
			t.Fatalf("read a body that is not UTF-8: %q", b)
		case err != nil && !errors.Is(err, stream.ErrBadRequest) && !errors.Is(err, stream.ErrMessageTooLarge):
			t.Fatalf("body %q: %v", b, err)
		}
	})
}

package transport_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/transport"
)

// TestCORSCredentials: cookies ride along only for origins the allow-list
// names; a wildcard list answers without credentials, so no page can read a
// user's streams with the user's cookies.
func TestCORSCredentials(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		creds    string
	}{
		{[]string{"https://app.example.com"}, "true"},
		{[]string{"*"}, ""},
	} {
		o, err := auth.NewOrigins(tc.patterns)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "http://node.example.com/connection/sse", nil)
		r.Header.Set("Origin", "https://app.example.com")
		w := httptest.NewRecorder()
		if done := transport.CORS(w, r, o, "GET, OPTIONS"); done {
			t.Fatalf("%v: allowed origin answered: %d %s", tc.patterns, w.Code, w.Body)
		}
		h := w.Header()
		if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != tc.creds {
			t.Errorf("%v: headers %v, want credentials %q", tc.patterns, h, tc.creds)
		}
	}
	o, _ := auth.NewOrigins([]string{"https://app.example.com"})
	r := httptest.NewRequest(http.MethodGet, "http://node.example.com/connection/sse", nil)
	r.Header.Set("Origin", "https://evil.example")
	w := httptest.NewRecorder()
	if !transport.CORS(w, r, o, "GET") || w.Code != http.StatusForbidden {
		t.Errorf("disallowed origin: %d", w.Code)
	}
}

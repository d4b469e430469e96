package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestQueryOverflow: a query with more parameters than the node reads is
// refused with a message saying so, on every endpoint that reads a query,
// rather than read as if it had none (Go's parser drops them all past
// 10,000) and answered for a request the client did not send.
func TestQueryOverflow(t *testing.T) {
	n := newNode(t)
	many := "?channel=chat:a" + strings.Repeat("&x=1", 10_000)
	long := "?channel=chat:a&x=" + strings.Repeat("y", 9<<10)
	for _, tc := range []struct{ method, path, auth string }{
		{"GET", "/connection/sse", ""},
		{"GET", "/connection/poll", ""},
		{"GET", "/connection/history", ""},
		{"GET", "/connection/presence", ""},
		{"POST", "/connection/publish", ""},
		{"GET", "/api/history", "apikey " + apiKey},
		{"GET", "/api/presence", "apikey " + apiKey},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := n.do(tc.method, tc.path+many, tc.auth, `{"channel":"chat:a","data":1}`)
			r.wantError(t, http.StatusBadRequest, 107)
			if !strings.Contains(string(r.Body), "query has 10001 parameters, at most 1000") {
				t.Fatalf("too many parameters answered %s", r.Body)
			}
			r = n.do(tc.method, tc.path+long, tc.auth, `{"channel":"chat:a","data":1}`)
			r.wantError(t, http.StatusBadRequest, 107)
			if !strings.Contains(string(r.Body), "at most 8192") {
				t.Fatalf("a long query answered %s", r.Body)
			}
			// A query Go's parser reads only in part is refused whole.
			r = n.do(tc.method, tc.path+"?channel=chat:a&x=%zz", tc.auth, `{"channel":"chat:a","data":1}`)
			r.wantError(t, http.StatusBadRequest, 107)
		})
	}
	if st := n.hub.Stats(); st.Publications != 0 {
		t.Fatalf("refused requests published %d", st.Publications)
	}
}

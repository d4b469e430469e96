package sse_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// TestBadRequests: every refusal is a coded JSON error with its status, sent
// before any stream starts, and none disturbs a stream already open.
func TestBadRequests(t *testing.T) {
	n := startNode(t, hub.Config{MaxChannels: 3}, sse.Config{})
	other := n.open(t, "channel=chat:a", nil)
	other.connected()

	valid := cursorOf(t, map[string]stream.Position{"chat:a": {Epoch: "e", Offset: 1}})
	for _, tc := range []struct {
		name   string
		method string
		query  string
		hdr    http.Header
		status int
		code   uint32
	}{
		{"no channel", "GET", "", nil, 400, 107},
		{"empty channel", "GET", "channel=", nil, 400, 111},
		{"bad channel name", "GET", "channel=chat%20room", nil, 400, 111},
		{"channel twice", "GET", "channel=chat:a&channel=chat:a", nil, 400, 107},
		{"too many channels", "GET", "channel=a&channel=b&channel=c&channel=d", nil, 403, 106},
		{"unknown namespace", "GET", "channel=nowhere:x", nil, 404, 102},
		{"forbidden channel", "GET", "channel=chat:a&channel=admin:x", nil, 403, 103},
		{"garbage cursor", "GET", "channel=chat:a&cursor=%21%21", nil, 400, 114},
		{"truncated cursor", "GET", "channel=chat:a&cursor=" + valid[:len(valid)-3], nil, 400, 114},
		{"altered cursor", "GET", "channel=chat:a", http.Header{"Last-Event-Id": {flip(valid)}}, 400, 114},
		{"forged token", "GET", "channel=chat:a&token=forged", nil, 401, 101},
		{"expired token", "GET", "channel=chat:a", http.Header{"Authorization": {"Bearer expired:ann"}}, 401, 109},
		{"cross origin", "GET", "channel=chat:a", http.Header{"Origin": {"https://evil.example"}}, 403, 116},
		{"POST", "POST", "channel=chat:a", nil, 405, 107},
		{"HEAD", "HEAD", "channel=chat:a", nil, 405, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.do(t, tc.method, tc.query, tc.hdr)
			if tc.method == "HEAD" {
				if resp.StatusCode != tc.status {
					t.Fatalf("status %s", resp.Status)
				}
				return
			}
			wantError(t, resp, tc.status, tc.code)
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, OPTIONS" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
		})
	}
	if got := n.Hub.Sessions(); got != 1 {
		t.Errorf("%d sessions after refusals, want the one stream", got)
	}
	n.publish(t, "chat:a", `"still here"`)
	other.wantPubs("chat:a", 1)
}

// flip changes one character of a cursor, keeping it URL-safe.
func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestTokens(t *testing.T) {
	n := startNode(t, hub.Config{}, sse.Config{})
	custom := startNode(t, hub.Config{}, sse.Config{TokenCookie: "sid"})
	// private: channels need a user, so a stream there proves the token was
	// read and verified.
	for _, tc := range []struct {
		name string
		n    *node
		q    string
		hdr  http.Header
	}{
		{"query", n, "&token=good:ann", nil},
		{"bearer", n, "", http.Header{"Authorization": {"Bearer good:ann"}}},
		{"cookie", n, "", http.Header{"Cookie": {"switchboard_token=good:ann"}}},
		{"named cookie", custom, "", http.Header{"Cookie": {"sid=good:ann"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.n.open(t, "channel=private:ann"+tc.q, tc.hdr)
			s.connected()
			res := tc.n.publish(t, "private:ann", `"for ann"`)
			s.wantPubs("private:ann", res.Offset)
		})
	}
	wantError(t, n.do(t, "GET", "channel=private:ann", nil), 403, 103)
	wantError(t, custom.do(t, "GET", "channel=private:ann", http.Header{"Cookie": {"switchboard_token=good:ann"}}), 403, 103)
}

func TestCORS(t *testing.T) {
	const app = "https://app.example"
	n := startNode(t, hub.Config{}, sse.Config{Origins: allowList{app}})

	pre := n.do(t, http.MethodOptions, "channel=chat:a", http.Header{
		"Origin":                        {app},
		"Access-Control-Request-Method": {"GET"},
	})
	if pre.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight %s", pre.Status)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      app,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, OPTIONS",
	} {
		if got := pre.Header.Get(k); got != want {
			t.Errorf("preflight %s: %q, want %q", k, got, want)
		}
	}
	if h := pre.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Last-Event-ID") {
		t.Errorf("preflight allows headers %q, want Last-Event-ID among them", h)
	}

	s := n.open(t, "channel=chat:a", http.Header{"Origin": {app}})
	if s.resp.Header.Get("Access-Control-Allow-Origin") != app || s.resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("stream CORS headers %v", s.resp.Header)
	}
	s.connected()

	evil := http.Header{"Origin": {"https://evil.example"}}
	wantError(t, n.do(t, http.MethodGet, "channel=chat:a", evil), 403, 116)
	evil.Set("Access-Control-Request-Method", "GET")
	wantError(t, n.do(t, http.MethodOptions, "channel=chat:a", evil), 403, 116)

	// Without an Origin (not a browser) there is nothing to check.
	plain := n.open(t, "channel=chat:a", nil)
	if plain.resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS headers without an Origin")
	}
	plain.connected()
}

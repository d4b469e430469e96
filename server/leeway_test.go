package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/server"
)

// justExpired mints a token whose exp passed 3s ago: inside the verifier's
// default leeway (5s), so every transport must take it.
func justExpired(t *testing.T) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(hmacSecret), "", auth.Claims{Subject: "skewed", ExpiresAt: time.Now().Add(-3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenLeewayEverywhere: token.leeway applies to exp wherever a token
// is checked, not only in the verifier: connect on WebSocket, SSE, polls and
// client publish.
func TestTokenLeewayEverywhere(t *testing.T) {
	n := newNode(t)
	if r := n.do(http.MethodGet, "/connection/poll?channel=chat:skew&timeout=0&token="+justExpired(t), "", ""); r.Status != http.StatusOK {
		t.Errorf("poll: %d %s", r.Status, r.Body)
	}
	if r := n.do(http.MethodPost, "/connection/publish", "Bearer "+justExpired(t), `{"channel":"chat:skew","data":1}`); r.Status != http.StatusOK {
		t.Errorf("client publish: %d %s", r.Status, r.Body)
	}
	resp, err := http.Get(n.base + "/connection/sse?channel=chat:skew&token=" + justExpired(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("sse: status %d", resp.StatusCode)
	} else if ev := testkit.NewSSEStream(t, resp.Body).Next(); ev.Event != "connected" {
		t.Errorf("sse: first event %+v, want connected", ev)
	}
	resp.Body.Close()
	c := n.dial(justExpired(t)) // fails the test if connect is refused
	if r := c.call(map[string]any{"type": "subscribe", "channel": "chat:skew"}); r["error"] != nil {
		t.Fatalf("subscribe after connect: %v", r["error"])
	}
}

// TestTokenRequireExp: with token.require_exp a token without exp is
// refused as invalid on every transport; one with exp is taken.
func TestTokenRequireExp(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: []string{hmacSecret}, RequireExp: true})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, func(c *server.Config) { c.Verifier = v })
	forever, err := auth.MintHMAC([]byte(hmacSecret), "", auth.Claims{Subject: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	n.do(http.MethodGet, "/connection/poll?channel=chat:x&timeout=0&token="+forever, "", "").wantError(t, http.StatusUnauthorized, 101)
	n.do(http.MethodPost, "/connection/publish", "Bearer "+forever, `{"channel":"chat:x","data":1}`).wantError(t, http.StatusUnauthorized, 101)
	if r := n.do(http.MethodGet, "/connection/poll?channel=chat:x&timeout=0&token="+token(t, "ann"), "", ""); r.Status != http.StatusOK {
		t.Fatalf("poll with a token that expires: %d %s", r.Status, r.Body)
	}
}

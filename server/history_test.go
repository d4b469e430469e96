package server_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// TestClientHistory: GET /connection/history answers what the WebSocket
// history command answers, under the same rule and the same token: here a
// namespace whose history rule is claim.
func TestClientHistory(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Publish: stream.AccessAnyone},
		{Name: "vault", History: stream.AccessClaim},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, withHub(t, hub.Config{Namespaces: ns}))
	for _, d := range []string{`"a"`, `"b"`, `"c"`} {
		n.publish("vault:v", d)
	}
	granted, err := auth.MintHMAC([]byte(hmacSecret), "", auth.Claims{Subject: "vic", Channels: []string{"vault:*"}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	plain := token(t, "pat")

	ws := n.dial(granted)
	cmd := ws.call(map[string]any{"type": "history", "channel": "vault:v", "reverse": true, "limit": 2})
	r := n.do(http.MethodGet, "/connection/history?channel=vault:v&reverse=1&limit=2", "Bearer "+granted, "")
	if r.Status != http.StatusOK {
		t.Fatalf("with the claim: %d %s", r.Status, r.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	delete(cmd, "type")
	delete(cmd, "id")
	if pubs, _ := got["publications"].([]any); len(pubs) != 2 || !reflect.DeepEqual(got, cmd) {
		t.Fatalf("HTTP answer %v, WebSocket reply %v", got, cmd)
	}
	if r := n.do(http.MethodGet, "/connection/history?channel=vault:v&token="+granted, "", ""); r.Status != http.StatusOK {
		t.Errorf("token in the query: %d %s", r.Status, r.Body)
	}

	n.do(http.MethodGet, "/connection/history?channel=vault:v", "Bearer "+plain, "").wantError(t, http.StatusForbidden, 103)
	n.do(http.MethodGet, "/connection/history?channel=vault:v", "", "").wantError(t, http.StatusForbidden, 103)
	if e, _ := n.dial(plain).call(map[string]any{"type": "history", "channel": "vault:v"})["error"].(map[string]any); e == nil || e["code"] != float64(103) {
		t.Errorf("WebSocket history without the claim: %v", e)
	}
	n.do(http.MethodGet, "/connection/history?channel=vault:v", "Bearer nope", "").wantError(t, http.StatusUnauthorized, 101)
	n.do(http.MethodGet, "/connection/history?channel=chat:x&since_offset=2", "", "").wantError(t, http.StatusBadRequest, 107)
	n.do(http.MethodGet, "/connection/history?channel=nope:x", "", "").wantError(t, http.StatusNotFound, 102)
}

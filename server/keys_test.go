package server_test

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// TestIdempotencyKeyRules: whichever way a publication comes in, a key that
// is not UTF-8 is refused, never rewritten to U+FFFD (which made "\xff" and
// "\xfe" one key: the second publish answered duplicate:true and was never
// published), and so is a key over 256 bytes.
func TestIdempotencyKeyRules(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "chat", Publish: stream.AccessAnyone}})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, withHub(t, hub.Config{Namespaces: ns}))
	c := n.dial("")
	long := strings.Repeat("k", 60_000)
	for _, key := range []string{"\xff", "\xfe", long} {
		frame := `{"type":"publish","id":9,"channel":"chat:k","data":1,"key":"` + key + `"}`
		if err := c.conn.WriteText([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		r := c.read()
		if e, _ := r["error"].(map[string]any); r["id"] != float64(9) || e == nil || e["code"] != float64(107) {
			t.Errorf("WebSocket publish with key %.10q: %v, want error 107", key, r)
		}
		n.api("POST", "/api/publish", `{"channel":"chat:k","data":1,"key":"`+key+`"}`).wantError(t, 400, 107)
		n.do("POST", "/connection/publish", "", `{"channel":"chat:k","data":1,"key":"`+key+`"}`).wantError(t, 400, 107)
	}
	if st := n.hub.Stats(); st.Publications != 0 {
		t.Fatalf("%d publications from refused keys", st.Publications)
	}
}

// TestKeysPerChannelRefuses: past limits.keys_per_channel a new key is
// refused with 110 (HTTP 429), and a retried key still answers
// duplicate:true with its first position.
func TestKeysPerChannelRefuses(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "chat", Publish: stream.AccessAnyone}})
	if err != nil {
		t.Fatal(err)
	}
	b := memory.New(memory.Config{Logger: quiet, KeysPerChannel: 2})
	n := newNode(t, withHub(t, hub.Config{Namespaces: ns, Broker: b}))
	pub := func(key string) response {
		return n.do("POST", "/connection/publish", "", `{"channel":"chat:k","data":1,"key":"`+key+`"}`)
	}
	for _, key := range []string{"k-1", "k-2"} {
		if r := pub(key); r.Status != 200 {
			t.Fatalf("key %s: %d %s", key, r.Status, r.Body)
		}
	}
	pub("k-3").wantError(t, 429, 110)
	if r := pub("k-1"); r.Status != 200 || r.json(t)["duplicate"] != true || r.json(t)["offset"] != float64(1) {
		t.Fatalf("retry of k-1 at the bound: %d %s, want offset 1, duplicate", r.Status, r.Body)
	}
	c := n.dial("")
	if r := c.call(map[string]any{"type": "publish", "channel": "chat:k", "data": 1, "key": "k-4"}); r["error"].(map[string]any)["code"] != float64(110) {
		t.Fatalf("WebSocket publish past the bound: %v, want error 110", r)
	}
}

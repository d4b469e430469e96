package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

func TestAPIKey(t *testing.T) {
	n := newNode(t)
	body := `{"channel":"chat:a","data":1}`
	for name, header := range map[string]string{
		"missing":      "",
		"wrong key":    "apikey nope",
		"wrong scheme": "Bearer " + apiKey,
		"no key":       "apikey",
		"prefix":       "apikey " + apiKey[:len(apiKey)-1],
	} {
		t.Run(name, func(t *testing.T) {
			n.do("POST", "/api/publish", header, body).wantError(t, http.StatusUnauthorized, 101)
		})
	}
	if r := n.do("POST", "/api/publish", "ApiKey "+apiKey, body); r.Status != 200 {
		t.Errorf("scheme is case-insensitive: got %d %s", r.Status, r.Body)
	}
}

func TestPublish(t *testing.T) {
	n := newNode(t)
	r := n.api("POST", "/api/publish", `{"channel":"chat:a","data":{"text":"hi"}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	first := r.json(t)
	epoch, _ := first["epoch"].(string)
	if epoch == "" || first["offset"] != float64(1) {
		t.Fatalf("first publish: %s", r.Body)
	}
	if got := n.publish("chat:a", `"two"`); got != 2 {
		t.Fatalf("second offset %d, want 2", got)
	}

	// The idempotency key: the repeat answers the first position.
	keyed := `{"channel":"chat:a","data":3,"key":"k-1"}`
	a := n.api("POST", "/api/publish", keyed).json(t)
	b := n.api("POST", "/api/publish", keyed).json(t)
	if a["offset"] != float64(3) || b["offset"] != float64(3) || b["epoch"] != epoch {
		t.Fatalf("keyed publishes: %v then %v", a, b)
	}
	if b["duplicate"] != true {
		t.Errorf("repeat not marked duplicate: %v", b)
	}

	// Unknown fields are tolerated; null is a JSON value.
	if r := n.api("POST", "/api/publish", `{"channel":"chat:a","data":null,"future":true}`); r.Status != 200 {
		t.Errorf("unknown field: %d %s", r.Status, r.Body)
	}
	// A channel in the default namespace.
	if r := n.api("POST", "/api/publish", `{"channel":"news","data":[1,2]}`); r.Status != 200 {
		t.Errorf("default namespace: %d %s", r.Status, r.Body)
	}
}

func TestPublishErrors(t *testing.T) {
	n := newNode(t)
	big := strings.Repeat("x", maxMessage)
	huge := strings.Repeat("x", maxMessage+70<<10)
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   uint32
	}{
		{"malformed", `{"channel":`, 400, 107},
		{"not an object", `[1,2]`, 400, 107},
		{"empty body", ``, 400, 107},
		{"two values", `{"channel":"chat:a","data":1} {}`, 400, 107},
		{"wrong type", `{"channel":5,"data":1}`, 400, 107},
		{"no data", `{"channel":"chat:a"}`, 400, 107},
		{"invalid data", `{"channel":"chat:a","data":tru}`, 400, 107},
		{"data not UTF-8", "{\"channel\":\"chat:a\",\"data\":\"\xff\"}", 400, 107},
		{"no channel", `{"data":1}`, 400, 111},
		{"bad channel", `{"channel":"chat:a b","data":1}`, 400, 111},
		{"long channel", `{"channel":"` + strings.Repeat("c", 256) + `","data":1}`, 400, 111},
		{"unknown namespace", `{"channel":"nope:a","data":1}`, 404, 102},
		{"data too large", `{"channel":"chat:a","data":"` + big + `"}`, 413, 112},
		{"body too large", `{"channel":"chat:a","data":"` + huge + `"}`, 413, 112},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n.api("POST", "/api/publish", tc.body).wantError(t, tc.status, tc.code)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	n := newNode(t)
	for path, allow := range map[string]string{
		"/api/publish":    "POST",
		"/api/broadcast":  "POST",
		"/api/disconnect": "POST",
		"/api/history":    "GET, HEAD",
		"/api/channels":   "GET, HEAD",
		"/api/info":       "GET, HEAD",
		"/api/presence":   "GET, HEAD",
	} {
		method := "GET"
		if allow != "POST" {
			method = "DELETE"
		}
		r := n.api(method, path, "")
		r.wantError(t, http.StatusMethodNotAllowed, 107)
		if got := r.Header.Get("Allow"); got != allow {
			t.Errorf("%s %s: Allow %q, want %q", method, path, got, allow)
		}
	}
	n.api("GET", "/api/nope", "").wantError(t, http.StatusNotFound, 107)
}

func TestBroadcast(t *testing.T) {
	n := newNode(t)
	n.publish("chat:b", "0")
	r := n.api("POST", "/api/broadcast", `{"channels":["chat:a","chat:b","nope:x","bad channel"],"data":{"n":1}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var out struct {
		Results []struct {
			Channel string
			Epoch   string
			Offset  uint64
			Error   *struct {
				Code    uint32
				Message string
			}
		}
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Channel string
		Offset  uint64
		Code    uint32
	}
	var got []result
	for _, res := range out.Results {
		g := result{Channel: res.Channel, Offset: res.Offset}
		if res.Error != nil {
			g.Code = res.Error.Code
		} else if res.Epoch == "" {
			t.Errorf("%s: no epoch", res.Channel)
		}
		got = append(got, g)
	}
	want := []result{{"chat:a", 1, 0}, {"chat:b", 2, 0}, {"nope:x", 0, 102}, {"bad channel", 0, 111}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		code       uint32
	}{
		{"no channels", `{"channels":[],"data":1}`, 400, 107},
		{"no data", `{"channels":["chat:a"]}`, 400, 107},
		{"twice", `{"channels":["chat:a","chat:a"],"data":1}`, 400, 107},
		{"malformed", `{"channels":"chat:a","data":1}`, 400, 107},
		{"too large", `{"channels":["chat:a"],"data":"` + strings.Repeat("x", maxMessage) + `"}`, 413, 112},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n.api("POST", "/api/broadcast", tc.body).wantError(t, tc.status, tc.code)
		})
	}
}

type historyPage struct {
	Channel      string
	Epoch        string
	Offset       uint64
	Publications []map[string]any
}

func (n *node) history(query string) historyPage {
	n.t.Helper()
	r := n.api("GET", "/api/history?"+query, "")
	if r.Status != 200 {
		n.t.Fatalf("history?%s: %d %s", query, r.Status, r.Body)
	}
	var p historyPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		n.t.Fatal(err)
	}
	return p
}

func offsets(p historyPage) []float64 {
	out := []float64{}
	for _, pub := range p.Publications {
		out = append(out, pub["offset"].(float64))
	}
	return out
}

func TestHistory(t *testing.T) {
	n := newNode(t)
	for i := 1; i <= 5; i++ {
		n.publish("chat:h", fmt.Sprintf(`{"i":%d}`, i))
	}
	all := n.history("channel=chat:h")
	if all.Channel != "chat:h" || all.Epoch == "" || all.Offset != 5 {
		t.Fatalf("page head: %+v", all)
	}
	if diff := cmp.Diff([]float64{1, 2, 3, 4, 5}, offsets(all)); diff != "" {
		t.Fatalf("offsets (-want +got):\n%s", diff)
	}
	// Publications have the shape every transport sends.
	p := all.Publications[0]
	for _, field := range []string{"channel", "epoch", "offset", "data", "time"} {
		if _, ok := p[field]; !ok {
			t.Errorf("publication without %q: %v", field, p)
		}
	}
	if diff := cmp.Diff(map[string]any{"i": float64(1)}, p["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}

	for query, want := range map[string][]float64{
		"channel=chat:h&limit=2":                                      {1, 2},
		"channel=chat:h&limit=2&reverse=true":                         {5, 4},
		"channel=chat:h&limit=0":                                      {},
		"channel=chat:h&limit=5000":                                   {1, 2, 3, 4, 5},
		"channel=chat:h&since_epoch=" + all.Epoch + "&since_offset=3": {4, 5},
		"channel=chat:h&since_epoch=" + all.Epoch:                     {1, 2, 3, 4, 5},
		"channel=chat:h&since_epoch=other&since_offset=3":             {},
		"channel=chat:never":                                          {},
	} {
		if diff := cmp.Diff(want, offsets(n.history(query))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", query, diff)
		}
	}

	// Data is stored compact, the same bytes every transport sends.
	n.publish("chat:compact", "{ \"a\" :\n [1, 2] }")
	if r := n.api("GET", "/api/history?channel=chat:compact", ""); !strings.Contains(string(r.Body), `"data":{"a":[1,2]}`) {
		t.Errorf("data not compact: %s", r.Body)
	}

	// History is bounded by the namespace.
	for i := 0; i < 5; i++ {
		n.publish("small:x", "1")
	}
	if diff := cmp.Diff([]float64{3, 4, 5}, offsets(n.history("channel=small:x"))); diff != "" {
		t.Errorf("small namespace (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		query  string
		status int
		code   uint32
	}{
		{"channel=", 400, 111},
		{"channel=a%20b", 400, 111},
		{"channel=nope:x", 404, 102},
		{"channel=chat:h&limit=-1", 400, 107},
		{"channel=chat:h&limit=x", 400, 107},
		{"channel=chat:h&reverse=maybe", 400, 107},
		{"channel=chat:h&since_offset=3", 400, 107},
		{"channel=chat:h&since_epoch=e&since_offset=-3", 400, 107},
	} {
		t.Run(tc.query, func(t *testing.T) {
			n.api("GET", "/api/history?"+tc.query, "").wantError(t, tc.status, tc.code)
		})
	}
}

func TestPresenceNotAvailable(t *testing.T) {
	n := newNode(t)
	n.api("GET", "/api/presence?channel=chat:a", "").wantError(t, http.StatusNotFound, 108)
	n.api("GET", "/api/presence?channel=a%20b", "").wantError(t, http.StatusBadRequest, 111)
	n.api("GET", "/api/presence?channel=nope:a", "").wantError(t, http.StatusNotFound, 102)
	n.do("GET", "/api/presence?channel=chat:a", "", "").wantError(t, http.StatusUnauthorized, 101)
}

func TestDisconnect(t *testing.T) {
	n := newNode(t)
	alice1 := n.dial(token(t, "alice"))
	alice2 := n.dial(token(t, "alice"))
	n.dial(token(t, "bob"))

	r := n.api("POST", "/api/disconnect", `{"user":"alice"}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if got := r.json(t)["disconnected"]; got != float64(2) {
		t.Fatalf("disconnected %v, want 2", got)
	}
	for _, c := range []*client{alice1, alice2} {
		var f map[string]any
		for f = c.read(); f["type"] != "disconnect"; f = c.read() {
		}
		if f["code"] != float64(3502) {
			t.Errorf("disconnect frame %v, want code 3502", f)
		}
	}
	testkit.Eventually(t, "alice's sessions to end", func() bool { return n.hub.Sessions() == 1 })

	if got := n.api("POST", "/api/disconnect", `{"user":"carol"}`).json(t)["disconnected"]; got != float64(0) {
		t.Errorf("unknown user: disconnected %v, want 0", got)
	}
	n.api("POST", "/api/disconnect", `{}`).wantError(t, 400, 107)
	n.api("POST", "/api/disconnect", `{"user":`).wantError(t, 400, 107)
}

func TestChannels(t *testing.T) {
	n := newNode(t)
	if diff := cmp.Diff(`{"channels":[]}`, strings.TrimSpace(string(n.api("GET", "/api/channels", "").Body))); diff != "" {
		t.Errorf("no channels (-want +got):\n%s", diff)
	}
	a, b := n.dial(""), n.dial("")
	a.subscribe("chat:two")
	b.subscribe("chat:two")
	a.subscribe("chat:one")

	var out struct {
		Channels []struct {
			Name        string
			Subscribers int
		}
	}
	if err := json.Unmarshal(n.api("GET", "/api/channels", "").Body, &out); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		Name        string
		Subscribers int
	}{{"chat:one", 1}, {"chat:two", 2}}
	if diff := cmp.Diff(want, out.Channels); diff != "" {
		t.Errorf("channels (-want +got):\n%s", diff)
	}
}

func TestInfo(t *testing.T) {
	n := newNode(t)
	c := n.dial("")
	c.subscribe("chat:i")
	n.publish("chat:i", "1")
	if f := c.read(); f["type"] != "message" {
		t.Fatalf("want the message, got %v", f)
	}

	info := n.api("GET", "/api/info", "").json(t)
	for field, want := range map[string]any{
		"version":       "v-test",
		"broker":        "memory",
		"ready":         true,
		"sessions":      map[string]any{"websocket": float64(1)},
		"subscriptions": float64(1),
		"channels":      float64(1),
		"publications":  float64(1),
		"deliveries":    float64(1),
	} {
		if diff := cmp.Diff(want, info[field]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", field, diff)
		}
	}
	for _, field := range []string{"uptime_seconds", "started_at", "go_version"} {
		if _, ok := info[field]; !ok {
			t.Errorf("no %s in %v", field, info)
		}
	}
	n.do("GET", "/api/info", "", "").wantError(t, http.StatusUnauthorized, 101)
}

package command_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/command"
)

func (n *node) post(t *testing.T, body string, edit ...func(*http.Request)) testkit.Response {
	t.Helper()
	return n.call(t, http.MethodPost, "/connection/publish", body, append(edit, func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json")
	})...)
}

func decodePublish(t *testing.T, r testkit.Response) protocol.PublishReply {
	t.Helper()
	var out protocol.PublishReply
	wantOK(t, r, &out)
	return out
}

func TestClientPublish(t *testing.T) {
	n := startNode(t, hub.Config{}, command.Config{})

	first := decodePublish(t, n.post(t, `{"channel":"chat:a","data":{"text":"hi"},"key":"k-1"}`, testkit.Bearer("good:ann")))
	if first.Offset != 1 || first.Epoch == "" || first.Duplicate {
		t.Fatalf("first publish %+v", first)
	}
	again := n.post(t, `{"channel":"chat:a","data":{"text":"hi"},"key":"k-1"}`, testkit.Bearer("good:ann"))
	if got := decodePublish(t, again); got != (protocol.PublishReply{Epoch: first.Epoch, Offset: first.Offset, Duplicate: true}) {
		t.Fatalf("repeated key %+v, want the first position %+v", got, first)
	}
	if !strings.Contains(string(again.Body), `"duplicate":true`) {
		t.Fatalf("repeated key answered %s", again.Body)
	}
	// No key: two publishes are two publications. Anonymous clients may
	// publish where the namespace lets everyone.
	for want := uint64(2); want <= 3; want++ {
		r := n.post(t, `{"channel":"chat:a","data":[1, 2, 3]}`)
		if got := decodePublish(t, r); got.Offset != want || got.Duplicate || strings.Contains(string(r.Body), "duplicate") {
			t.Fatalf("publish without key %s, want offset %d", r.Body, want)
		}
	}

	page, err := n.Hub.History(context.Background(), "chat:a", stream.HistoryQuery{Limit: -1})
	if err != nil || len(page.Publications) != 3 {
		t.Fatalf("history after publishes %+v %v", page, err)
	}
	p := page.Publications[0]
	if string(p.Data) != `{"text":"hi"}` || p.Key != "k-1" || p.Info == nil || p.Info.User != "ann" {
		t.Fatalf("published %+v", p)
	}
	if got := string(page.Publications[1].Data); got != `[1,2,3]` {
		t.Fatalf("data stored as %s, want it compact", got)
	}
	// An anonymous client's publication still says a client made it
	// ("info":{"client":""}), so a subscriber can tell it from one the
	// backend made through the API, which has no info.
	if info := page.Publications[1].Info; info == nil || info.Client != "" || info.User != "" || info.Info != nil {
		t.Fatalf("anonymous publication info %+v, want {client:\"\"}", info)
	}
}

// TestClientPublishLongKey: a key the size of a whole body is refused
// before the key store keeps it for its window.
func TestClientPublishLongKey(t *testing.T) {
	n := startNode(t, hub.Config{}, command.Config{})
	testkit.WantError(t, n.post(t, `{"channel":"chat:a","data":1,"key":"`+strings.Repeat("k", 60_000)+`"}`), 400, 107)
	if got := decodePublish(t, n.post(t, `{"channel":"chat:a","data":1,"key":"`+strings.Repeat("k", stream.MaxKeyLen)+`"}`)); got.Offset != 1 {
		t.Fatalf("a key of %d bytes: %+v", stream.MaxKeyLen, got)
	}
}

func TestClientPublishRefused(t *testing.T) {
	n := startNode(t, hub.Config{MaxMessageSize: 1024}, command.Config{})
	big := `{"channel":"chat:a","data":"` + strings.Repeat("x", 6<<10) + `"}`
	overMessage := `{"channel":"chat:a","data":"` + strings.Repeat("x", 2<<10) + `"}`
	cases := []struct {
		name   string
		body   string
		edit   func(*http.Request)
		status int
		code   uint32
	}{
		{"forbidden namespace", `{"channel":"news:x","data":1}`, testkit.Bearer("good:ann"), 403, 103},
		{"forbidden channel", `{"channel":"admin:x","data":1}`, nil, 403, 103},
		{"body over the limit", big, nil, 413, 112},
		{"data over the message size", overMessage, nil, 413, 112},
		{"malformed", `{"channel":"chat:a","data":`, nil, 400, 107},
		{"not an object", `[1]`, nil, 400, 107},
		{"two values", `{"channel":"chat:a","data":1} {}`, nil, 400, 107},
		{"empty body", ``, nil, 400, 107},
		{"wrong type", `{"channel":7,"data":1}`, nil, 400, 107},
		{"missing channel", `{"data":1}`, nil, 400, 107},
		{"missing data", `{"channel":"chat:a"}`, nil, 400, 107},
		{"invalid channel", `{"channel":"chat a","data":1}`, nil, 400, 111},
		// Both keys would be U+FFFD after encoding/json: the second would
		// answer duplicate:true and never be published.
		{"key not UTF-8 (0xff)", "{\"channel\":\"chat:a\",\"data\":1,\"key\":\"\xff\"}", nil, 400, 107},
		{"key not UTF-8 (0xfe)", "{\"channel\":\"chat:a\",\"data\":1,\"key\":\"\xfe\"}", nil, 400, 107},
		{"key a lone surrogate", `{"channel":"chat:a","data":1,"key":"\udc00"}`, nil, 400, 107},
		{"key over 256 bytes", `{"channel":"chat:a","data":1,"key":"` + strings.Repeat("k", 257) + `"}`, nil, 400, 107},
		{"channel not UTF-8", "{\"channel\":\"chat:\xff\",\"data\":1}", nil, 400, 107},
		{"unknown namespace", `{"channel":"nowhere:x","data":1}`, nil, 404, 102},
		{"bad token", `{"channel":"chat:a","data":1}`, testkit.Bearer("forged"), 401, 101},
		{"expired token", `{"channel":"chat:a","data":1}`, testkit.Bearer("expired:ann"), 401, 109},
		// The token is checked before the body is read.
		{"bad token and a body over the limit", big, testkit.Bearer("forged"), 401, 101},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testkit.WantError(t, n.post(t, c.body, c.edit), c.status, c.code)
		})
	}
	t.Run("chunked body over the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, n.url+"/connection/publish", strings.NewReader(big))
		req.ContentLength = -1 // unknown length: the limit is found while reading
		testkit.WantError(t, testkit.Do(t, nil, req), 413, 112)
	})
	t.Run("wrong method", func(t *testing.T) {
		r := n.call(t, http.MethodGet, "/connection/publish", "")
		testkit.WantError(t, r, http.StatusMethodNotAllowed, 107)
		if allow := r.Header.Get("Allow"); allow != "POST, OPTIONS" {
			t.Fatalf("Allow %q", allow)
		}
	})
	if st := n.Hub.Stats(); st.Publications != 0 {
		t.Fatalf("refused publishes published %d", st.Publications)
	}
	page, err := n.Hub.History(context.Background(), "chat:a", stream.HistoryQuery{Limit: -1})
	if err != nil || len(page.Publications) != 0 {
		t.Fatalf("history after refused publishes: %+v %v", page, err)
	}
}

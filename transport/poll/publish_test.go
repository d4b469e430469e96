package poll_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

type publishReply struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Duplicate bool   `json:"duplicate"`
}

func (n *node) post(t *testing.T, body string, edit ...func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.url+"/connection/publish", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, e := range edit {
		e(req)
	}
	return n.do(t, req)
}

func decodePublish(t *testing.T, r response) publishReply {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	var out publishReply
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("publish reply %s: %v", r.body, err)
	}
	return out
}

func TestClientPublish(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	start := n.poll(t, values("channel", "chat:a", "timeout", "0"))

	first := decodePublish(t, n.post(t, `{"channel":"chat:a","data":{"text":"hi"},"key":"k-1"}`, bearer("good:ann")))
	if first.Offset != 1 || first.Epoch == "" || first.Duplicate {
		t.Fatalf("first publish %+v", first)
	}
	again := decodePublish(t, n.post(t, `{"channel":"chat:a","data":{"text":"hi"},"key":"k-1"}`, bearer("good:ann")))
	if again.Offset != first.Offset || again.Epoch != first.Epoch || !again.Duplicate {
		t.Fatalf("repeated key %+v, want the first position %+v", again, first)
	}
	// No key: two publishes are two publications. Anonymous clients may
	// publish where the namespace lets everyone.
	for want := uint64(2); want <= 3; want++ {
		if r := decodePublish(t, n.post(t, `{"channel":"chat:a","data":[1, 2, 3]}`)); r.Offset != want || r.Duplicate {
			t.Fatalf("publish without key %+v, want offset %d", r, want)
		}
	}

	r := n.poll(t, values("channel", "chat:a", "cursor", start.Cursor, "timeout", "0"))
	if len(r.Publications) != 3 {
		t.Fatalf("poll after publishes %+v", r)
	}
	p := r.Publications[0]
	if string(p.Data) != `{"text":"hi"}` || p.Key != "k-1" || p.Info == nil || p.Info.User != "ann" {
		t.Fatalf("published %+v", p)
	}
	if got := string(r.Publications[1].Data); got != `[1,2,3]` {
		t.Fatalf("data stored as %s, want it compact", got)
	}
}

func TestClientPublishRefused(t *testing.T) {
	n := startNode(t, hub.Config{MaxMessageSize: 1024}, poll.Config{})
	big := `{"channel":"chat:a","data":"` + strings.Repeat("x", 6<<10) + `"}`
	overMessage := `{"channel":"chat:a","data":"` + strings.Repeat("x", 2<<10) + `"}`
	cases := []struct {
		name   string
		body   string
		edit   func(*http.Request)
		status int
		code   uint32
	}{
		{"forbidden namespace", `{"channel":"news:x","data":1}`, bearer("good:ann"), 403, 103},
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
		{"unknown namespace", `{"channel":"nowhere:x","data":1}`, nil, 404, 102},
		{"bad token", `{"channel":"chat:a","data":1}`, bearer("forged"), 401, 101},
		{"expired token", `{"channel":"chat:a","data":1}`, bearer("expired:ann"), 401, 109},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var edit []func(*http.Request)
			if c.edit != nil {
				edit = append(edit, c.edit)
			}
			wantError(t, n.post(t, c.body, edit...), c.status, c.code)
		})
	}
	t.Run("chunked body over the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, n.url+"/connection/publish", strings.NewReader(big))
		req.ContentLength = -1 // unknown length: the limit is found while reading
		wantError(t, n.do(t, req), 413, 112)
	})
	t.Run("wrong method", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/connection/publish", nil)
		r := n.do(t, req)
		wantError(t, r, http.StatusMethodNotAllowed, 107)
		if allow := r.header.Get("Allow"); allow != "POST, OPTIONS" {
			t.Fatalf("Allow %q", allow)
		}
	})
	if st := n.hub.Stats(); st.Publications != 0 {
		t.Fatalf("refused publishes published %d", st.Publications)
	}
	page, err := n.hub.History(context.Background(), "chat:a", stream.HistoryQuery{Limit: -1})
	if err != nil || len(page.Publications) != 0 {
		t.Fatalf("history after refused publishes: %+v %v", page, err)
	}
}

package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPTransportsMounted drives SSE, polling and client publish through
// the server's mux: a publication made on one transport reaches the others.
func TestHTTPTransportsMounted(t *testing.T) {
	n := newNode(t)

	// A short poll gives the starting cursor.
	first := n.do(http.MethodGet, "/connection/poll?channel=chat:mix&timeout=0", "", "")
	if first.status != http.StatusOK {
		t.Fatalf("poll: %d %s", first.status, first.body)
	}
	cursor := first.json(t)["cursor"].(string)

	req, _ := http.NewRequest(http.MethodGet, n.base+"/connection/sse?channel=chat:mix", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("sse content type %q", ct)
	}
	events := bufio.NewScanner(resp.Body)
	waitLine := func(prefix string) string {
		t.Helper()
		for events.Scan() {
			if line := events.Text(); strings.HasPrefix(line, prefix) {
				return line
			}
		}
		t.Fatalf("stream ended before %q: %v", prefix, events.Err())
		return ""
	}
	waitLine("event: connected")
	waitLine("data: ") // the connected event's own data

	pub := n.do(http.MethodPost, "/connection/publish", "", `{"channel":"chat:mix","data":{"text":"hi"}}`)
	if pub.status != http.StatusOK || pub.json(t)["offset"].(float64) != 1 {
		t.Fatalf("client publish: %d %s", pub.status, pub.body)
	}
	var p struct {
		Channel string          `json:"channel"`
		Offset  uint64          `json:"offset"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(waitLine("data: "), "data: ")), &p); err != nil {
		t.Fatal(err)
	}
	if p.Channel != "chat:mix" || p.Offset != 1 || string(p.Data) != `{"text":"hi"}` {
		t.Fatalf("sse publication %+v", p)
	}

	next := n.do(http.MethodGet, "/connection/poll?channel=chat:mix&timeout=5s&cursor="+cursor, "", "")
	body := next.json(t)
	pubs := body["publications"].([]any)
	if next.status != http.StatusOK || len(pubs) != 1 || body["recovered"] != true {
		t.Fatalf("poll with cursor: %d %s", next.status, next.body)
	}
	if r := n.do(http.MethodDelete, "/connection/poll?channel=chat:mix", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE poll: %d", r.status)
	}
}

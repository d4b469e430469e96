package poll_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// FuzzPollQuery feeds raw query strings to the handler: whatever a client
// sends, the answer is a reply or a coded 4xx, never a panic or a 5xx, and
// the session is gone when the handler returns.
func FuzzPollQuery(f *testing.F) {
	n := startNode(f, hub.Config{MaxChannels: 8}, poll.Config{})
	pos := n.publish(f, "chat:a", 3)
	// Holds are capped at a millisecond so long polls end quickly.
	h := poll.New(poll.Config{Hub: n.Hub, Verifier: testkit.Verifier{}, DefaultTimeout: time.Millisecond, MaxTimeout: time.Millisecond})

	valid := cursorOf(map[string]stream.Position{"chat:a": {Epoch: pos.Epoch, Offset: 1}, "chat:b": {Epoch: "x", Offset: 9}})
	empty := (&stream.Cursor{}).String()
	for _, q := range []string{
		"channel=chat:a&timeout=0",
		"channel=chat:a&channel=chat:b&cursor=" + valid + "&timeout=0",
		"channel=chat:a&cursor=" + valid + "&timeout=1ms",
		"channel=chat:a&cursor=" + empty,
		"channel=chat:a&cursor=" + valid[:len(valid)-2] + "&timeout=0",
		"channel=chat:a&cursor=" + valid + "AA&timeout=0",
		"channel=chat:a&cursor=%ff%00&timeout=0",
		"channel=chat:a&timeout=25s",
		"channel=chat:a&timeout=25",
		"channel=chat:a&timeout=-1",
		"channel=chat:a&timeout=1e9",
		"channel=chat:a&timeout=9223372036854775807ns",
		"channel=chat:a&timeout=0&token=good:ann",
		"channel=chat:a&timeout=0&token=forged",
		"channel=admin:x&timeout=0",
		"channel=nowhere:x&timeout=0",
		"channel=&channel=%20",
		"channel=chat:a;timeout=0",
		"%zz",
		"",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "/connection/poll", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("query %q: status %d: %s", raw, rec.Code, rec.Body)
		}
		if n.Hub.Sessions() != 0 {
			t.Fatalf("query %q left a session open", raw)
		}
		if rec.Code == http.StatusOK {
			var r pollReply
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Publications == nil || r.Gaps == nil {
				t.Fatalf("query %q: reply %s: %v", raw, rec.Body, err)
			}
			if _, err := stream.ParseCursor(r.Cursor); err != nil {
				t.Fatalf("query %q: reply cursor: %v", raw, err)
			}
			return
		}
		var e struct {
			Error struct{ Code uint32 } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == 0 {
			t.Fatalf("query %q: status %d body %s", raw, rec.Code, rec.Body)
		}
	})
}

package sse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/sse"
)

// startedRecorder ends the request as soon as a stream starts, so a fuzz
// input that opens a stream returns at once with the stream's opening.
type startedRecorder struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (r *startedRecorder) WriteHeader(code int) {
	if code == http.StatusOK {
		r.cancel()
	}
	r.ResponseRecorder.WriteHeader(code)
}

func (r *startedRecorder) Unwrap() http.ResponseWriter { return r.ResponseRecorder }

// FuzzRequest: whatever the query string and Last-Event-ID, the handler
// answers with a coded JSON 4xx or opens a stream, never panics, never
// answers 5xx, and leaves no session behind.
func FuzzRequest(f *testing.F) {
	n := startNode(f, hub.Config{}, sse.Config{})
	for i := 0; i < 3; i++ {
		n.publish(f, "chat:a", `"seed"`)
	}
	pos := func(epoch string, off uint64) stream.Position { return stream.Position{Epoch: epoch, Offset: off} }
	page, err := n.Hub.History(context.Background(), "chat:a", stream.HistoryQuery{})
	if err != nil {
		f.Fatal(err)
	}
	valid := cursorOf(f, map[string]stream.Position{"chat:a": pos(page.Latest.Epoch, 1)})
	two := cursorOf(f, map[string]stream.Position{"chat:a": pos(page.Latest.Epoch, 2), "news": pos("e", 0)})
	foreign := cursorOf(f, map[string]stream.Position{"chat:a": pos("gone", 7)})
	ahead := cursorOf(f, map[string]stream.Position{"chat:a": pos(page.Latest.Epoch, 1<<40)})
	for _, seed := range []struct{ query, lastID string }{
		{"channel=chat:a", ""},
		{"channel=chat:a", valid},
		{"channel=chat:a&channel=news&cursor=" + two, ""},
		{"channel=chat:a&cursor=" + foreign, ""},
		{"channel=chat:a", ahead},
		{"channel=chat:a", valid[:len(valid)-2]},
		{"channel=chat:a", flip(valid)},
		{"channel=chat:a", valid + "="},
		{"channel=chat:a", "\x00\r\n"},
		{"channel=chat:a&cursor=%25%25", ""},
		{"", ""},
		{"channel=", ""},
		{"channel=admin:x", ""},
		{"channel=nowhere:x", ""},
		{"channel=bad%20name", ""},
		{"channel=a&channel=a", ""},
		{"channel=" + strings.Repeat("x", 300), ""},
		{"token=forged&channel=a", ""},
		{"token=expired:ann&channel=a", ""},
		{"token=good:ann&channel=private:ann", ""},
		{"channel=a;b&&==&%zz", ""},
	} {
		f.Add(seed.query, seed.lastID)
	}
	f.Fuzz(func(t *testing.T, query, lastID string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/connection/sse", nil)
		r.URL.RawQuery = query
		if lastID != "" {
			r.Header["Last-Event-Id"] = []string{lastID}
		}
		rec := &startedRecorder{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
		n.handler.ServeHTTP(rec, r)

		if got := n.Hub.Sessions(); got != 0 {
			t.Fatalf("%d sessions left open", got)
		}
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("stream with Content-Type %q", ct)
			}
			p := testkit.NewSSEReader(bytes.NewReader(body))
			retry, err1 := p.Next()
			conn, err2 := p.Next()
			if err1 != nil || err2 != nil || retry.Retry < 0 || conn.Event != "connected" || !json.Valid([]byte(conn.Data)) ||
				retry.Unknown != nil || conn.Unknown != nil {
				t.Fatalf("stream opens with %q", body)
			}
			if _, err := stream.ParseCursor(conn.ID); err != nil {
				t.Fatalf("connected id %q: %v", conn.ID, err)
			}
			return
		}
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, body)
		}
		fr, err := protocol.DecodeFrame(body)
		if err != nil || fr.Error == nil || fr.Error.Code == 0 || fr.Error.HTTPStatus() != rec.Code {
			t.Fatalf("status %d with body %q", rec.Code, body)
		}
	})
}

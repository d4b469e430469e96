package poll_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

func TestBadInputIsRefusedAndHarmsNoOne(t *testing.T) {
	n := startNode(t, hub.Config{MaxChannels: 4}, poll.Config{})
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))
	valid := first.Cursor
	// Another client holds a poll throughout; it must get its publication
	// and nothing else.
	other := n.async(t, values("channel", "chat:a", "cursor", valid, "timeout", "30s"))
	n.waiting(t, 1)

	tampered := []byte(valid)
	tampered[len(tampered)/2] ^= 1
	cases := []struct {
		name   string
		query  string
		edit   func(*http.Request)
		status int
		code   uint32
	}{
		{"no channel", "timeout=0", nil, 400, 107},
		{"empty channel list", "channel=", nil, 400, 111},
		{"repeated channel", "channel=chat:a&channel=chat:a", nil, 400, 107},
		{"too many channels", "channel=a&channel=b&channel=c&channel=d&channel=e", nil, 403, 106},
		{"invalid channel", "channel=" + url.QueryEscape("chat lobby"), nil, 400, 111},
		{"long channel", "channel=" + strings.Repeat("x", 256), nil, 400, 111},
		{"unknown namespace", "channel=nowhere:x", nil, 404, 102},
		{"bad cursor", "channel=chat:a&cursor=not-a-cursor", nil, 400, 114},
		{"tampered cursor", "channel=chat:a&cursor=" + string(tampered), nil, 400, 114},
		{"cursor with padding", "channel=chat:a&cursor=" + url.QueryEscape(valid+"="), nil, 400, 114},
		{"negative timeout", "channel=chat:a&timeout=-1s", nil, 400, 107},
		{"negative seconds", "channel=chat:a&timeout=-1", nil, 400, 107},
		{"timeout over the maximum", "channel=chat:a&timeout=61s", nil, 400, 107},
		{"seconds over the maximum", "channel=chat:a&timeout=61", nil, 400, 107},
		{"huge seconds", "channel=chat:a&timeout=99999999999999999999", nil, 400, 107},
		{"timeout without unit", "channel=chat:a&timeout=1.5", nil, 400, 107},
		{"timeout not a duration", "channel=chat:a&timeout=soon", nil, 400, 107},
		{"bad token", "channel=chat:a", testkit.Bearer("forged"), 401, 101},
		{"expired token", "channel=chat:a", testkit.Bearer("expired:ann"), 401, 109},
		{"forbidden channel", "channel=chat:a&channel=admin:x&timeout=0", nil, 403, 103},
		{"private channel without a token", "channel=private:ann&timeout=0", nil, 403, 103},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var edit []func(*http.Request)
			if c.edit != nil {
				edit = append(edit, c.edit)
			}
			testkit.WantError(t, n.get(t, c.query, edit...), c.status, c.code)
		})
	}
	req, _ := http.NewRequest(http.MethodPost, n.url+"/connection/poll?channel=chat:a", nil)
	r := n.do(t, req)
	testkit.WantError(t, r, http.StatusMethodNotAllowed, 107)
	if allow := r.Header.Get("Allow"); allow != "GET, OPTIONS" {
		t.Fatalf("Allow %q", allow)
	}

	// Only the other poller's session and subscription remain.
	testkit.Eventually(t, "refused polls to leave nothing behind", func() bool {
		st := n.Hub.Stats()
		return n.Hub.Sessions() == 1 && st.Sessions[poll.TransportLongPoll] == 1 && st.Subscriptions == 1
	})
	pos := n.publish(t, "chat:a", 1)
	got := decodeReply(t, await(t, other))
	if len(got.Publications) != 1 || got.position(t, "chat:a") != pos {
		t.Fatalf("the other poller got %+v", got)
	}
}

func TestConnectionLimit(t *testing.T) {
	n := startNode(t, hub.Config{MaxConnections: 1}, poll.Config{})
	// With a cursor, the publication that releases the held poll reaches it
	// however its subscription races the publish.
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))
	held := n.async(t, values("channel", "chat:a", "cursor", first.Cursor, "timeout", "30s"))
	n.waiting(t, 1)
	testkit.WantError(t, n.get(t, "channel=chat:b&timeout=0"), http.StatusServiceUnavailable, 118)
	n.publish(t, "chat:a", 1)
	decodeReply(t, await(t, held))
	// Its session lingers on its kept connection for the next poll (see
	// lingering), and ends with the connection.
	n.client.CloseIdleConnections()
	testkit.Eventually(t, "the held session to close", func() bool { return n.Hub.Sessions() == 0 })
	n.poll(t, values("channel", "chat:b", "timeout", "0"))

	// A lingering session counts against the limit as any session does;
	// a poll on its connection that does not take it over closes it
	// before opening its own.
	kept := dialRaw(t, n.url)
	kept.send(t, "/connection/poll?channel=chat:a&timeout=30s")
	testkit.Eventually(t, "the poll to wait", func() bool { return poll.Parked(n.handler) == 1 })
	n.publish(t, "chat:a", 1)
	if _, b := kept.reply(t); !strings.Contains(b, `"offset":2`) {
		t.Fatalf("kept poll answered with %q", b)
	}
	testkit.WantError(t, n.get(t, "channel=chat:b&timeout=0"), http.StatusServiceUnavailable, 118)
	kept.send(t, "/connection/poll?channel=chat:b&timeout=0")
	if _, b := kept.reply(t); !strings.Contains(b, `"publications":[]`) {
		t.Fatalf("a poll for another channel on the kept connection: %q", b)
	}
}

func TestTokenSources(t *testing.T) {
	for _, c := range []struct {
		name   string
		cookie string
		edit   func(*http.Request)
		query  string
	}{
		{name: "bearer", edit: testkit.Bearer("good:ann")},
		{name: "query", query: "&token=good:ann"},
		{name: "default cookie", edit: func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "switchboard_token", Value: "good:ann"})
		}},
		{name: "named cookie", cookie: "sb", edit: func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "sb", Value: "good:ann"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := startNode(t, hub.Config{}, poll.Config{TokenCookie: c.cookie})
			var edit []func(*http.Request)
			if c.edit != nil {
				edit = append(edit, c.edit)
			}
			decodeReply(t, n.get(t, "channel=private:ann&timeout=0"+c.query, edit...))
			// The same request without the token is anonymous and refused.
			testkit.WantError(t, n.get(t, "channel=private:ann&timeout=0"), http.StatusForbidden, 103)
		})
	}
	t.Run("no verifier", func(t *testing.T) {
		n := startNode(t, hub.Config{}, poll.Config{Verifier: noVerifier{}})
		testkit.WantError(t, n.get(t, "channel=chat:a&timeout=0", testkit.Bearer("good:ann")), http.StatusUnauthorized, 101)
	})
}

// noVerifier refuses every token, as a node configured without keys does.
type noVerifier struct{}

func (noVerifier) Verify(string) (stream.Identity, error) {
	return stream.Identity{}, stream.ErrInvalidToken
}

func TestCORS(t *testing.T) {
	origins, err := auth.NewOrigins([]string{"https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, hub.Config{}, poll.Config{Origins: origins})
	// A poll's page publishes and reads history too: its preflight admits
	// them all.
	path := "/connection/poll"
	pre, _ := http.NewRequest(http.MethodOptions, n.url+path, nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	r := n.do(t, pre)
	h := r.Header
	if r.Status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		h.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.Status, h)
	}

	bad, _ := http.NewRequest(http.MethodOptions, n.url+path, nil)
	bad.Header.Set("Origin", "https://evil.example")
	bad.Header.Set("Access-Control-Request-Method", "POST")
	r = n.do(t, bad)
	testkit.WantError(t, r, http.StatusForbidden, 116)
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got CORS headers: %v", r.Header)
	}

	// A bare OPTIONS, not a preflight, says what the endpoint takes.
	bare, _ := http.NewRequest(http.MethodOptions, n.url+path, nil)
	if r := n.do(t, bare); r.Status != http.StatusNoContent || r.Header.Get("Allow") != "GET, OPTIONS" {
		t.Fatalf("bare OPTIONS: %d %v", r.Status, r.Header)
	}

	allowed := n.get(t, "channel=chat:a&timeout=0", func(r *http.Request) {
		r.Header.Set("Origin", "https://app.example")
	})
	decodeReply(t, allowed)
	if allowed.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || allowed.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin headers %v", allowed.Header)
	}
	denied := n.get(t, "channel=chat:a&timeout=0", func(r *http.Request) {
		r.Header.Set("Origin", "https://evil.example")
	})
	testkit.WantError(t, denied, http.StatusForbidden, 116)
	testkit.Eventually(t, "sessions to close", func() bool { return n.Hub.Sessions() == 0 })
	if st := n.Hub.Stats(); st.Disconnects[hub.DisconnectKey{Transport: poll.TransportShortPoll, Cause: stream.ErrClosed}] != 1 {
		t.Fatalf("a refused origin opened a session: %v", st.Disconnects)
	}
}

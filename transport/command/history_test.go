package command_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/command"
)

func (n *node) history(t *testing.T, query string, edit ...func(*http.Request)) testkit.Response {
	t.Helper()
	return n.call(t, http.MethodGet, "/connection/history?"+query, "", edit...)
}

// historyPage decodes a successful answer, refusing fields beyond channel,
// epoch, offset and publications.
func historyPage(t *testing.T, r testkit.Response) (protocol.HistoryReply, []int) {
	t.Helper()
	var page protocol.HistoryReply
	wantOK(t, r, &page)
	if page.Publications == nil {
		t.Fatalf("history body %s: no publications array", r.Body)
	}
	var is []int
	for _, raw := range page.Publications {
		var p struct {
			Channel string `json:"channel"`
			Epoch   string `json:"epoch"`
			Offset  uint64 `json:"offset"`
			Data    struct {
				I int `json:"i"`
			} `json:"data"`
			Time int64 `json:"time"`
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.Channel != page.Channel || p.Epoch != page.Epoch || p.Time == 0 {
			t.Fatalf("publication %s in page %s: %v", raw, r.Body, err)
		}
		if uint64(p.Data.I)+1 != p.Offset {
			t.Fatalf("publication %s: data does not match its offset", raw)
		}
		is = append(is, p.Data.I)
	}
	return page, is
}

func TestHistoryHandler(t *testing.T) {
	n := startNode(t, hub.Config{}, command.Config{})
	last := n.publish(t, "chat:h", 5)

	page, got := historyPage(t, n.history(t, "channel=chat:h"))
	if page.Channel != "chat:h" || page.Epoch != last.Epoch || page.Offset != 5 || !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("whole history: %+v %v", page, got)
	}
	_, got = historyPage(t, n.history(t, "channel=chat:h&reverse=1&limit=2"))
	if !slices.Equal(got, []int{4, 3}) {
		t.Errorf("newest two: %v", got)
	}
	_, got = historyPage(t, n.history(t, "channel=chat:h&reverse=true&limit=2&since_epoch="+last.Epoch+"&since_offset=1"))
	if !slices.Equal(got, []int{4, 3}) {
		t.Errorf("reverse after 1: %v", got)
	}

	// Paging forward from a position, two at a time, reads everything once.
	var all []int
	since := stream.Position{Epoch: last.Epoch}
	for range 10 {
		q := url.Values{"channel": {"chat:h"}, "limit": {"2"}, "since_epoch": {since.Epoch}, "since_offset": {strconv.FormatUint(since.Offset, 10)}}
		page, got := historyPage(t, n.history(t, q.Encode(), testkit.Bearer("good:ann")))
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
		since.Offset = uint64(got[len(got)-1]) + 1
		if page.Offset != 5 {
			t.Fatalf("page latest offset %d", page.Offset)
		}
	}
	if !slices.Equal(all, []int{0, 1, 2, 3, 4}) {
		t.Errorf("paged: %v", all)
	}

	// Another epoch matches nothing; the answer says the current one.
	page, got = historyPage(t, n.history(t, "channel=chat:h&since_epoch=other&since_offset=1"))
	if len(got) != 0 || page.Epoch != last.Epoch {
		t.Errorf("other epoch: %+v", page)
	}
	// limit=0 is the position only; a channel never published to is empty.
	if page, got = historyPage(t, n.history(t, "channel=chat:h&limit=0")); len(got) != 0 || page.Offset != 5 {
		t.Errorf("limit=0: %+v", page)
	}
	if page, got = historyPage(t, n.history(t, "channel=chat:none")); len(got) != 0 || page.Offset != 0 || page.Epoch == "" {
		t.Errorf("empty channel: %+v", page)
	}
	// History keeps what its namespace says.
	n.publish(t, "short:x", 5)
	if _, got = historyPage(t, n.history(t, "channel=short:x")); !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("short history: %v", got)
	}
	// The token may come as a query parameter or a cookie too.
	n.publish(t, "private:p", 1)
	historyPage(t, n.history(t, "channel=private:p&token=good:ann"))
	historyPage(t, n.history(t, "channel=private:p", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "switchboard_token", Value: "good:ann"})
	}))
}

func TestHistoryHandlerErrors(t *testing.T) {
	n := startNode(t, hub.Config{}, command.Config{})
	for _, q := range []string{
		"channel=chat:a&limit=-1", "channel=chat:a&limit=1001", "channel=chat:a&limit=x",
		"channel=chat:a&reverse=maybe",
		"channel=chat:a&since_offset=3", "channel=chat:a&since_epoch=e&since_offset=-1", "channel=chat:a&since_epoch=e&since_offset=x",
	} {
		testkit.WantError(t, n.history(t, q), http.StatusBadRequest, 107)
	}
	testkit.WantError(t, n.history(t, ""), http.StatusBadRequest, 111)
	testkit.WantError(t, n.history(t, "channel=a%20b"), http.StatusBadRequest, 111)
	testkit.WantError(t, n.history(t, "channel=nope:x"), http.StatusNotFound, 102)
	testkit.WantError(t, n.history(t, "channel=admin:x", testkit.Bearer("good:ann")), http.StatusForbidden, 103)
	testkit.WantError(t, n.history(t, "channel=private:x"), http.StatusForbidden, 103)
	testkit.WantError(t, n.history(t, "channel=chat:x", testkit.Bearer("bad")), http.StatusUnauthorized, 101)
	testkit.WantError(t, n.history(t, "channel=chat:x&token=expired:ann"), http.StatusUnauthorized, 109)
	if r := n.call(t, http.MethodPost, "/connection/history?channel=chat:x", ""); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, OPTIONS" {
		t.Errorf("POST: %d %v %s", r.Status, r.Header, r.Body)
	}
}

// TestHistoryHandlerClaim: a namespace whose history rule is claim admits
// only tokens whose channels claim grants the channel, as the WebSocket
// history command does.
func TestHistoryHandlerClaim(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "vault", History: stream.AccessClaim},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, hub.Config{Namespaces: ns, Policy: &auth.Policy{}}, command.Config{Verifier: claimVerifier{}})
	n.publish(t, "vault:a", 2)
	testkit.WantError(t, n.history(t, "channel=vault:a"), http.StatusForbidden, 103)
	testkit.WantError(t, n.history(t, "channel=vault:a", testkit.Bearer("other")), http.StatusForbidden, 103)
	if _, got := historyPage(t, n.history(t, "channel=vault:a", testkit.Bearer("vault"))); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("with the claim: %v", got)
	}
}

// claimVerifier names user "u" and grants the channels claim "vault:a"
// for token "vault", nothing for any other token.
type claimVerifier struct{}

func (claimVerifier) Verify(token string) (stream.Identity, error) {
	id := stream.Identity{User: "u"}
	if token == "vault" {
		id.Channels = []string{"vault:a"}
	}
	return id, nil
}

func TestHistoryHandlerCrossOrigin(t *testing.T) {
	origins, err := auth.NewOrigins([]string{"https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, hub.Config{}, command.Config{Origins: origins})
	r := n.history(t, "channel=chat:a", func(r *http.Request) { r.Header.Set("Origin", "https://app.example") })
	historyPage(t, r)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin headers %v", r.Header)
	}
	testkit.WantError(t, n.history(t, "channel=chat:a", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }), http.StatusForbidden, 116)
}

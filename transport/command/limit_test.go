package command_test

import (
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/ratelimit"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/transport/command"
)

// TestRateLimit: the three endpoints share one budget per client; a client
// over it gets 429, code 110 and a Retry-After, and other clients are not
// affected. A client is its token's subject, else its address.
func TestRateLimit(t *testing.T) {
	// One request a second: no refill comes while the test runs.
	n := startNode(t, hub.Config{}, command.Config{Limiter: ratelimit.New(1, 3, 0)})
	publish := func(edit ...func(*http.Request)) testkit.Response {
		return n.post(t, `{"channel":"chat:a","data":1}`, edit...)
	}
	history := func(edit ...func(*http.Request)) testkit.Response {
		return n.call(t, http.MethodGet, "/connection/history?channel=chat:a", "", edit...)
	}
	presence := func(edit ...func(*http.Request)) testkit.Response {
		return n.call(t, http.MethodGet, "/connection/presence?channel=chat:a", "", edit...)
	}
	ann, bob := testkit.Bearer("good:ann"), testkit.Bearer("good:bob")
	// Presence is off in chat (108): a refused request is charged too.
	for i, r := range []testkit.Response{publish(ann), history(ann), presence(ann)} {
		if r.Status == http.StatusTooManyRequests {
			t.Fatalf("request %d within the burst: %d %s", i+1, r.Status, r.Body)
		}
	}
	for _, r := range []testkit.Response{publish(ann), history(ann), presence(ann)} {
		testkit.WantError(t, r, http.StatusTooManyRequests, 110)
		if r.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want 1", r.Header.Get("Retry-After"))
		}
	}
	// Another user, and the anonymous clients of the same address, have
	// budgets of their own.
	for _, edit := range []func(*http.Request){bob, func(*http.Request) {}} {
		for i := range 3 {
			if r := history(edit); r.Status != http.StatusOK {
				t.Fatalf("another client's request %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		testkit.WantError(t, history(edit), http.StatusTooManyRequests, 110)
	}
	// A forged token is charged to its address, which is spent.
	testkit.WantError(t, history(testkit.Bearer("forged")), http.StatusTooManyRequests, 110)
	if st := n.Hub.Stats(); st.Publications != 1 {
		t.Fatalf("%d publications, want the one within the budget", st.Publications)
	}
}

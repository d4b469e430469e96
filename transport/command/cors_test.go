package command_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/transport/command"
)

// TestCORS: each endpoint answers a preflight for every method a client's
// page uses on the node's HTTP endpoints, refuses an origin off the list
// with code 116, and answers a plain OPTIONS with what it takes.
func TestCORS(t *testing.T) {
	origins, err := auth.NewOrigins([]string{"https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, hub.Config{}, command.Config{Origins: origins})
	for path, allow := range map[string]string{
		"/connection/publish":  "POST, OPTIONS",
		"/connection/presence": "GET, OPTIONS",
		"/connection/history":  "GET, OPTIONS",
	} {
		t.Run(path, func(t *testing.T) {
			preflight := func(origin string) func(*http.Request) {
				return func(r *http.Request) {
					r.Header.Set("Origin", origin)
					r.Header.Set("Access-Control-Request-Method", "POST")
					r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
				}
			}
			r := n.call(t, http.MethodOptions, path, "", preflight("https://app.example"))
			h := r.Header
			if r.Status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
				h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" ||
				!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Fatalf("preflight: %d %v", r.Status, h)
			}

			r = n.call(t, http.MethodOptions, path, "", preflight("https://evil.example"))
			testkit.WantError(t, r, http.StatusForbidden, 116)
			if r.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("disallowed origin got CORS headers: %v", r.Header)
			}

			// A plain OPTIONS, not a preflight, says what the endpoint takes.
			if r := n.call(t, http.MethodOptions, path, ""); r.Status != http.StatusNoContent || r.Header.Get("Allow") != allow {
				t.Fatalf("plain OPTIONS: %d %v", r.Status, r.Header)
			}
		})
	}
}

package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestGRPCRefusalsSayWhatHTTPSays: a client call refused over Connect
// carries the code and message the same refusal carries over the HTTP
// client endpoints (one operation named once, the same words).
func TestGRPCRefusalsSayWhatHTTPSays(t *testing.T) {
	n := startNode(t)
	for _, c := range []struct {
		name, method, body string
		httpMethod, path   string
		httpBody           string
	}{
		{"publish where clients may not", "Publish", `{"channel":"dashboard:nodes","data":"1"}`,
			http.MethodPost, "/connection/publish", `{"channel":"dashboard:nodes","data":1}`},
		{"history of a bad channel", "History", `{"channel":"bad channel"}`,
			http.MethodGet, "/connection/history?channel=bad+channel", ""},
		{"presence where it is off", "Presence", `{"channel":"dashboard:nodes"}`,
			http.MethodGet, "/connection/presence?channel=dashboard:nodes", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(n.URL+"/switchboard.v1.ClientService/"+c.method, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Message string
				Details []struct{ Debug struct{ Code uint32 } }
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(c.httpMethod, n.URL+c.path, strings.NewReader(c.httpBody))
			if c.httpBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp2, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp2.Body.Close()
			var want struct {
				Error struct {
					Code    uint32
					Message string
				}
			}
			if err := json.NewDecoder(resp2.Body).Decode(&want); err != nil {
				t.Fatal(err)
			}
			if want.Error.Code == 0 {
				t.Fatalf("HTTP %s was not refused (%s)", c.path, resp2.Status)
			}
			if got.Message != want.Error.Message {
				t.Errorf("over Connect: %q\nover HTTP:    %q", got.Message, want.Error.Message)
			}
			if len(got.Details) == 0 || got.Details[0].Debug.Code != want.Error.Code {
				t.Errorf("over Connect: details %+v, want code %d", got.Details, want.Error.Code)
			}
		})
	}
}

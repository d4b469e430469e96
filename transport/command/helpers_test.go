package command_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/command"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is a hub on the memory broker with the three endpoints mounted on
// the paths the server gives them.
type node struct {
	*transporttest.Node
	url string
}

// startNode runs cfg's hub (transporttest's namespaces and policy unless
// cfg names its own) and the endpoints with ccfg (the test verifier unless
// it has one).
func startNode(t *testing.T, cfg hub.Config, ccfg command.Config) *node {
	t.Helper()
	n := transporttest.Start(t, transporttest.Config{Hub: cfg, Handler: func(h *hub.Hub) http.Handler {
		ccfg.Hub = h
		if ccfg.Verifier == nil {
			ccfg.Verifier = testkit.Verifier{}
		}
		mux := http.NewServeMux()
		mux.Handle("/connection/publish", command.NewPublish(ccfg))
		mux.Handle("/connection/presence", command.NewPresence(ccfg))
		mux.Handle("/connection/history", command.NewHistory(ccfg))
		return mux
	}})
	return &node{Node: n, url: n.Server.URL}
}

// publish publishes count messages {"i":k} on ch straight into the hub and
// returns the last position.
func (n *node) publish(t *testing.T, ch string, count int) stream.Position {
	t.Helper()
	res := transporttest.PublishN(t, n.Hub, ch, count)
	return res[len(res)-1].Position
}

// call sends method path (with its query) and body, edited by edit, and
// reads the whole response.
func (n *node) call(t *testing.T, method, path, body string, edit ...func(*http.Request)) testkit.Response {
	t.Helper()
	return testkit.Do(t, nil, testkit.NewRequest(t, method, n.url+path, body, edit...))
}

// wantOK checks a successful reply's status and headers and decodes its body,
// refusing fields v does not have.
func wantOK(t *testing.T, r testkit.Response, v any) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	h := r.Header
	if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", h)
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
}

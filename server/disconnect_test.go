package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
)

// downControl is a Control whose broker is away.
type downControl struct{}

func (downControl) Run(ctx context.Context, _ func([]byte)) error {
	<-ctx.Done()
	return nil
}

func (downControl) Publish(context.Context, []byte) error { return errors.New("connection refused") }

// TestDisconnectBrokerDown: when the broker cannot carry the order to the
// other nodes, POST /api/disconnect answers 503 instead of claiming success.
func TestDisconnectBrokerDown(t *testing.T) {
	n := newNode(t, withHub(t, hub.Config{Control: downControl{}}))
	n.api("POST", "/api/disconnect", `{"user":"alice"}`).wantError(t, http.StatusServiceUnavailable, 117)
}

package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/controltest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Control = (*nats.Control)(nil)

func TestControl(t *testing.T) {
	srv := testenv.NATS(t)
	controltest.Run(t, func(t *testing.T) (hub.Control, hub.Control) {
		return nats.NewControl(newBroker(t, srv, nats.Config{})), nats.NewControl(newBroker(t, srv, nats.Config{}))
	})
}

// TestControlUnavailable: with NATS gone, Publish fails rather than
// leaving the message in the reconnect buffer.
func TestControlUnavailable(t *testing.T) {
	srv := testenv.NATS(t)
	c := nats.NewControl(newBroker(t, srv, nats.Config{}))
	if err := c.Publish(t.Context(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	var err error
	testkit.Eventually(t, "Publish to fail with NATS down", func() bool {
		err = c.Publish(ctx, []byte(`{}`))
		return err != nil
	})
	if !errors.Is(err, stream.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}

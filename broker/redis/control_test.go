package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/controltest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Control = (*redis.Control)(nil)

func TestControl(t *testing.T) {
	srv := testenv.Redis(t)
	controltest.Run(t, func(t *testing.T) (hub.Control, hub.Control) {
		cfg := redis.Config{Prefix: "control-" + t.Name()[len(t.Name())-6:]}
		return redis.NewControl(newBroker(t, srv, cfg)), redis.NewControl(newBroker(t, srv, cfg))
	})
}

// TestControlUnavailable: with Redis gone, Publish fails rather than
// pretending the message went out.
func TestControlUnavailable(t *testing.T) {
	srv := testenv.Redis(t)
	c := redis.NewControl(newBroker(t, srv, redis.Config{}))
	if err := c.Publish(t.Context(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err := c.Publish(ctx, []byte(`{}`))
	if err == nil {
		t.Fatal("Publish succeeded with Redis down")
	}
	if !errors.Is(err, stream.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want ErrUnavailable or a deadline", err)
	}
}

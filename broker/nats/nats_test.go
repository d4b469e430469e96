package nats_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Broker = (*nats.Broker)(nil)

// Every broker and every embedded server is closed by its test. Both take a
// moment to let their last goroutines go.
func TestMain(m *testing.M) { brokertest.Main(m, 5*time.Second) }

func TestBroker(t *testing.T) {
	srv := testenv.NATS(t)
	brokertest.Run(t, func(t *testing.T) hub.Broker {
		return newBroker(t, srv, nats.Config{})
	})
}

// newBroker connects a broker to srv and closes it when the test ends.
func newBroker(t testing.TB, srv *testenv.NATSServer, cfg nats.Config) *nats.Broker {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = srv.URL()
	}
	if cfg.Logger == nil {
		cfg.Logger = brokertest.Logger(t)
	}
	return brokertest.Connect(t, func(ctx context.Context) (*nats.Broker, error) { return nats.New(ctx, cfg) })
}

func TestConfigFromURL(t *testing.T) {
	srv := testenv.NATS(t)
	ctx := t.Context()
	for _, bad := range []string{
		srv.URL() + "?replicas=0",
		srv.URL() + "?storage=disk",
		srv.URL() + "?idle_ttl=-1s",
		srv.URL() + "?unknown=1",
		srv.URL() + "?prefix=a..b",
		srv.URL() + "?stream=a.b",
	} {
		if b, err := nats.New(ctx, nats.Config{URL: bad}); err == nil {
			b.Close()
			t.Errorf("New(%q) accepted it", bad)
		}
	}
	b := newBroker(t, srv, nats.Config{URL: srv.URL() + "?stream=OTHER&prefix=other.sb&storage=memory&idle_ttl=1h"})
	res, err := b.Publish(ctx, brokertest.Request("chat:x", `1`))
	if err != nil || res.Offset != 1 {
		t.Fatalf("publish on a broker configured by URL: %+v, %v", res, err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := testenv.NATS(t)
	url := srv.URL()
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := nats.New(ctx, nats.Config{URL: url})
	if err == nil {
		b.Close()
		t.Fatal("New succeeded with NATS down")
	}
	if !strings.Contains(err.Error(), stream.ErrUnavailable.Error()) {
		t.Errorf("New: %v, want one wrapping ErrUnavailable", err)
	}
}

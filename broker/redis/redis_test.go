package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Broker = (*redis.Broker)(nil)

// Every broker is closed by its test, and with it every connection and
// goroutine of the Redis client, so nothing is ignored; rueidis lets its
// last goroutine go up to a second after a connection closes.
func TestMain(m *testing.M) { brokertest.Main(m, 3*time.Second) }

func TestBroker(t *testing.T) {
	srv := testenv.Redis(t)
	brokertest.Run(t, func(t *testing.T) hub.Broker {
		return newBroker(t, srv, redis.Config{})
	})
}

// newBroker connects a broker to srv and closes it when the test ends.
// Brokers share the default prefix unless cfg names one, as nodes of one
// cluster do: tests keep apart by their channel names.
func newBroker(t testing.TB, srv *testenv.RedisServer, cfg redis.Config) *redis.Broker {
	t.Helper()
	if cfg.URL == "" && cfg.Addrs == nil && cfg.Options == nil {
		cfg.URL = srv.URL()
	}
	if cfg.Logger == nil {
		cfg.Logger = brokertest.Logger(t)
	}
	return brokertest.Connect(t, func(ctx context.Context) (*redis.Broker, error) { return redis.New(ctx, cfg) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, b *redis.Broker, r stream.PublishRequest) stream.PublishResult {
	t.Helper()
	res, err := b.Publish(context.Background(), r)
	if err != nil {
		t.Fatalf("Publish(%q): %v", r.Channel, err)
	}
	return res
}

func history(t *testing.T, b *redis.Broker, ch string, q stream.HistoryQuery) stream.HistoryPage {
	t.Helper()
	page, err := b.History(context.Background(), ch, q)
	if err != nil {
		t.Fatalf("History(%q): %v", ch, err)
	}
	return page
}

var all = stream.HistoryQuery{Limit: -1}

func TestNewRejectsBadConfig(t *testing.T) {
	srv := testenv.Redis(t)
	ctx := context.Background()
	for _, cfg := range []redis.Config{
		{URL: srv.URL(), Addrs: []string{srv.Addr()}},
		{URL: "http://" + srv.Addr()},
		{URL: srv.URL(), Prefix: "a{b"},
	} {
		if b, err := redis.New(ctx, cfg); err == nil {
			b.Close()
			t.Errorf("New(%+v) accepted the configuration", cfg)
		}
	}
	// Nothing listening: New says so, as unavailable.
	down := testenv.Redis(t)
	down.Kill()
	if b, err := redis.New(ctx, redis.Config{Addrs: []string{down.Addr()}}); !errors.Is(err, stream.ErrUnavailable) {
		if b != nil {
			b.Close()
		}
		t.Errorf("New with nothing listening: %v, want stream.ErrUnavailable", err)
	}
}

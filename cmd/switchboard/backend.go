package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// backend is what a node keeps beside its hub, all from the one broker the
// config names: the [hub.Broker] itself, the [hub.Presence] and
// [hub.Control] that live on it, and how to tell whether it is reachable.
// Everything that depends on the kind of broker is decided in openBackend,
// once.
type backend struct {
	// Broker assigns offsets, keeps history and links the nodes.
	Broker hub.Broker
	// Presence keeps channels' clients: in memory beside the memory
	// broker, in Redis beside the Redis broker, in a JetStream key-value
	// bucket beside the NATS broker.
	Presence hub.Presence
	// Control carries a user's disconnect to every node on the broker.
	Control hub.Control
	// Kind names the broker ("memory", "redis" or "nats") for the banner
	// and /api/info.
	Kind string
	// Health reports an error while the broker is unreachable, for
	// /readyz. Nil: always reachable.
	Health func() error
	// KeyStats counts the idempotency keys the node holds, for /metrics.
	// Nil: the broker keeps them elsewhere (Redis, NATS).
	KeyStats func() (keys, bytes int64)
	// Unreadable counts the live publications the broker could not read,
	// for /metrics. Nil: the broker delivers values it never reads back
	// (memory).
	Unreadable func() uint64

	close func()
}

// openBackend connects to the broker cfg names and builds what goes with
// it. Close releases it once the hub has stopped.
func openBackend(ctx context.Context, cfg *config, log *slog.Logger) (*backend, error) {
	url := cfg.Broker
	fail := func(err error) error {
		return fmt.Errorf("broker %q (%s): %w", redact(url), cfg.source("broker"), err)
	}
	switch {
	case url == "" || url == "memory":
		b := memory.New(memory.Config{
			Logger:         log,
			KeysPerChannel: cfg.Limits.KeysPerChannel,
			KeyBytes:       int64(cfg.Limits.KeyBytes),
		})
		return &backend{
			Broker:   b,
			Presence: memory.NewPresence(memory.PresenceConfig{}),
			Control:  memory.NewControl(),
			Kind:     "memory",
			KeyStats: b.KeyStats,
		}, nil
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		b, err := redis.New(ctx, redis.Config{URL: url, Logger: log})
		if err != nil {
			return nil, fail(err)
		}
		return &backend{
			Broker:     b,
			Presence:   redis.NewPresence(b),
			Control:    redis.NewControl(b),
			Kind:       "redis",
			Health:     reachable(b, "Redis"),
			Unreadable: b.Unreadable,
			close:      b.Close,
		}, nil
	case strings.HasPrefix(url, "nats://"), strings.HasPrefix(url, "tls://"):
		b, err := nats.New(ctx, nats.Config{URL: url, Logger: log})
		if err != nil {
			return nil, fail(err)
		}
		return &backend{
			Broker:     b,
			Presence:   nats.NewPresence(b),
			Control:    nats.NewControl(b),
			Kind:       "nats",
			Health:     reachable(b, "NATS"),
			Unreadable: b.Unreadable,
			close:      b.Close,
		}, nil
	}
	return nil, fail(errors.New("want memory, redis://host:port/db or nats://host:port"))
}

// Close releases the broker's connections. Call it after the hub has
// stopped.
func (b *backend) Close() {
	if b.close != nil {
		b.close()
	}
}

// reachable turns a broker's Healthy into a readiness check naming the
// service that is away.
func reachable(b interface{ Healthy() bool }, service string) func() error {
	return func() error {
		if !b.Healthy() {
			return fmt.Errorf("%w: %s is unreachable", stream.ErrUnavailable, service)
		}
		return nil
	}
}

package redis_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/broker/presencetest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

var _ hub.Presence = (*redis.Presence)(nil)

func TestPresence(t *testing.T) {
	srv := testenv.Redis(t)
	presencetest.Run(t, func(t *testing.T) hub.Presence {
		return redis.NewPresence(newBroker(t, srv, redis.Config{}))
	})
	// Two nodes on one Redis and one prefix see each other's entries and
	// events; a node on another prefix sees neither.
	presencetest.RunShared(t, func(t *testing.T) (hub.Presence, hub.Presence) {
		cfg := redis.Config{Prefix: "shared-" + t.Name()[len(t.Name())-6:]}
		return redis.NewPresence(newBroker(t, srv, cfg)), redis.NewPresence(newBroker(t, srv, cfg))
	})
}

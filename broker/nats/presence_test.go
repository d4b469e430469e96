package nats_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/broker/presencetest"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

var _ hub.Presence = (*nats.Presence)(nil)

func TestPresence(t *testing.T) {
	srv := testenv.NATS(t)
	presencetest.Run(t, func(t *testing.T) hub.Presence {
		return nats.NewPresence(newBroker(t, srv, nats.Config{}))
	})
	// Two nodes on one NATS, stream and prefix see each other's entries
	// and events.
	presencetest.RunShared(t, func(t *testing.T) (hub.Presence, hub.Presence) {
		return nats.NewPresence(newBroker(t, srv, nats.Config{})), nats.NewPresence(newBroker(t, srv, nats.Config{}))
	})
}

package nats_test

import (
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/broker/presencetest"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
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

// TestPresenceAfterRestart: the bucket is kept in memory, so a NATS restart
// loses it; the next use creates it again and presence carries on (nodes
// refresh their entries within a third of the TTL).
func TestPresenceAfterRestart(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv, nats.Config{})
	brokertest.Start(t, b)
	p := nats.NewPresence(b)
	ctx := t.Context()
	c := stream.ClientInfo{Client: "c1", User: "u"}
	if err := p.Add(ctx, "chat:p", c, time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	testkit.EventuallyWithin(t, outageWait, "the node to be connected again", b.Healthy)
	testkit.EventuallyWithin(t, outageWait, "Add to succeed again", func() bool { return p.Add(ctx, "chat:p", c, time.Minute) == nil })
	list, err := p.Clients(ctx, "chat:p")
	if err != nil || len(list) != 1 || list[0].Client != "c1" {
		t.Fatalf("Clients after the restart: %v, %v; want c1", list, err)
	}
}

package nats_test

import (
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// A connection that goes silent — a server that hangs, a network that died
// without a word — stays open: nothing breaks, nothing answers. Healthy
// turns false within a few seconds all the same, and true again once the
// bytes flow, and delivery carries on.
func TestHealthyWhileNATSHangs(t *testing.T) {
	srv := testenv.NATS(t)
	proxy := testenv.NewProxy(t, srv.Addr())
	b := newBroker(t, srv, nats.Config{URL: "nats://" + proxy.Addr()})
	other := newBroker(t, srv, nats.Config{})
	r := brokertest.Start(t, b)
	const ch = "hang:c"
	if err := b.Subscribe(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, outageWait, "Healthy", b.Healthy)

	thaw := proxy.Freeze()
	defer thaw()
	testkit.EventuallyWithin(t, 5*time.Second, "Healthy to turn false while NATS is silent", func() bool { return !b.Healthy() })

	thaw()
	testkit.EventuallyWithin(t, 5*time.Second, "Healthy to turn true once NATS answers", b.Healthy)
	if _, err := other.Publish(t.Context(), brokertest.Request(ch, `1`)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, outageWait, "the delivery", func() bool { return len(r.Get(ch)) == 1 })
}

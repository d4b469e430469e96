package redis_test

import (
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// A Redis that hangs (SIGSTOP) keeps its connections open: nothing breaks,
// nothing answers. Healthy turns false within a few seconds all the same,
// and true again once Redis answers, and delivery carries on.
func TestHealthyWhileRedisHangs(t *testing.T) {
	srv := testenv.Redis(t)
	b, r := subscribed(t, srv, "hang:c")
	testkit.EventuallyWithin(t, outageWait, "Healthy", b.Healthy)

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	testkit.EventuallyWithin(t, 5*time.Second, "Healthy to turn false while Redis hangs", func() bool { return !b.Healthy() })

	srv.Resume()
	resumed = true
	testkit.EventuallyWithin(t, 5*time.Second, "Healthy to turn true once Redis answers", b.Healthy)
	publish(t, b, stream.PublishRequest{Channel: "hang:c", Data: []byte(`1`)})
	testkit.EventuallyWithin(t, outageWait, "the delivery", func() bool { return len(r.Get("hang:c")) == 1 })
}

package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// closeBound is a generous bound for Close: it must not wait on a Redis
// that does not answer, which would hold up a node's exit.
const closeBound = time.Second

// A Redis that hangs (SIGSTOP) answers nothing, and closing a connection
// politely waits for an answer. Close does not: it returns at once, and
// leaves no goroutine behind (TestMain checks).
func TestCloseWhileRedisHangs(t *testing.T) {
	srv := testenv.Redis(t)
	b, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), Logger: brokertest.Logger(t)})
	must(t, err)
	r := &brokertest.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.Run(ctx, r.Deliver) }()
	const ch = "close:c"
	must(t, b.Subscribe(context.Background(), ch))
	publish(t, b, brokertest.Request(ch, `1`))
	testkit.Eventually(t, "the delivery", func() bool { return len(r.Get(ch)) == 1 })

	srv.Pause()
	defer srv.Resume()
	cancel()
	must(t, <-ran)
	start := time.Now()
	b.Close()
	if d := time.Since(start); d > closeBound {
		t.Errorf("Close took %s with Redis stopped, want under %s", d.Round(time.Millisecond), closeBound)
	}
}

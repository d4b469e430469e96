package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestRedisRestartedEmpty: Redis restarts with nothing (no persistence) under
// connected clients, and the channel goes on in a new epoch. Over WebSocket,
// SSE and long polling, each client is told of the gap — the gap push, or a
// poll's gaps — before any publication of the new epoch, and then receives
// every publication of the new epoch, from offset 1, once and in order: none
// that history holds is skipped.
func TestRedisRestartedEmpty(t *testing.T) {
	for _, tr := range []transportKind{transportWS, transportSSE, transportLongPoll} {
		t.Run(tr.String(), func(t *testing.T) { testRedisRestartedEmpty(t, tr) })
	}
}

func testRedisRestartedEmpty(t *testing.T, tr transportKind) {
	rs := testenv.Redis(t)
	n := startNode(t, "--broker", rs.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ch = "chat:empty"
	f := newFollower(t, tr)
	if err := f.open(ctx, n, followSpec{channels: []string{ch}}); err != nil {
		t.Fatal(err)
	}
	publish := func(i int) published {
		t.Helper()
		var p published
		testkit.EventuallyNil(t, 30*time.Second, "a publication to be acknowledged", func() error {
			var err error
			p, err = n.publish(ctx, ch, i)
			return err
		})
		return p
	}
	const count = 10
	var old string
	for i := 1; i <= count; i++ {
		old = publish(i).Epoch
	}
	for got := 0; got < count; {
		e := nextEvent(ctx, t, f)
		if e.kind == evPublication {
			got++
		}
	}

	rs.Restart() // empty: the server keeps nothing on disk
	var epoch string
	for i := 1; i <= count; i++ {
		epoch = publish(i).Epoch
	}
	if epoch == old {
		t.Fatalf("Redis restarted empty, and the channel kept epoch %s", epoch)
	}

	told := false
	var offsets []uint64
	for len(offsets) < count {
		e := nextEvent(ctx, t, f)
		switch {
		case e.kind == evEnd:
			// A poll that came while Redis was away was refused; the
			// client comes back with its cursor, as any client would.
			testkit.EventuallyNil(t, 30*time.Second, "the follower to resume", func() error { return f.resume(ctx, n) })
		case e.kind == evSubscribed && !e.recovered,
			e.kind == evOther && strings.Contains(e.raw, `"type":"gap"`) && strings.Contains(e.raw, `"epoch":"`+epoch+`"`):
			told = true
		case e.kind == evPublication && e.pub.Epoch == epoch:
			if !told {
				t.Fatalf("publication %s/%d of the new epoch before any word of the gap", e.pub.Epoch, e.pub.Offset)
			}
			offsets = append(offsets, e.pub.Offset)
		case e.kind == evPublication:
			t.Fatalf("publication %s/%d of the old epoch after the restart", e.pub.Epoch, e.pub.Offset)
		}
	}
	for i, off := range offsets {
		if off != uint64(i+1) {
			t.Fatalf("the new epoch's offsets arrived as %v, want 1..%d once each, in order", offsets, count)
		}
	}
}

// nextEvent is the follower's next event, failing t when none comes.
func nextEvent(ctx context.Context, t *testing.T, f follower) followEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e, err := f.next(ctx)
	if err != nil {
		t.Fatalf("waiting for an event: %v", err)
	}
	return e
}

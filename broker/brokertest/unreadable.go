package brokertest

import (
	"context"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

// Unreadable is implemented by a broker under test that can store a
// publication this node cannot read back, as a node of a later version
// would, in a format this one does not know: the Redis and NATS brokers,
// through a method their own tests add. A broker that keeps publications
// as values (memory) has nothing that could be unreadable, and the case
// that needs it skips.
type Unreadable interface {
	PublishUnreadable(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error)
}

// testUnreadableIsAGap holds every broker to one decision: a publication
// the node cannot read is a gap subscribers see in the offsets, and the
// channel's delivery goes on after it — never a stall until history drops
// the publication, never a repeat. The live publication after it reveals
// the gap, and filling the gap from history meets the same unreadable
// publication.
func testUnreadableIsAGap(t *testing.T, e *env) {
	u, ok := e.b.(Unreadable)
	if !ok {
		t.Skip("the broker keeps publications as values: none can be unreadable")
	}
	ch := e.channel("c")
	e.subscribe(t, ch)
	e.publishN(t, ch, 1, nil)
	e.waitDelivered(t, ch, 1)

	counter, counts := e.b.(interface{ Unreadable() uint64 })
	var before uint64
	if counts {
		before = counter.Unreadable()
	}
	res, err := u.PublishUnreadable(context.Background(), Request(ch, `"from a later version"`))
	if err != nil {
		t.Fatalf("PublishUnreadable(%q): %v", ch, err)
	}
	if res.Offset != 2 {
		t.Fatalf("the unreadable publication got offset %d, want 2", res.Offset)
	}
	e.publishN(t, ch, 2, nil)
	got := e.waitDelivered(t, ch, 3)
	checkOffsets(t, "around an unreadable publication", Offsets(got), []uint64{1, 3, 4})
	// Counted once, for /metrics (switchboard_broker_unreadable_total).
	if counts {
		if n := counter.Unreadable() - before; n != 1 {
			t.Errorf("Unreadable() grew by %d, want 1", n)
		}
	}

	// A second subscription of the channel, which starts after the
	// unreadable publication, is not held up by it either.
	e.unsubscribe(t, ch)
	e.subscribe(t, ch)
	e.publishN(t, ch, 1, nil)
	checkOffsets(t, "after subscribing again", Offsets(e.waitDelivered(t, ch, 4)), []uint64{1, 3, 4, 5})
}

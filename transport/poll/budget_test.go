package poll_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// TestPollAnswerIsBounded: a poll far behind gets at most the queue limit
// of publications per answer, and following the cursor sees every one of
// them exactly once, in order.
func TestPollAnswerIsBounded(t *testing.T) {
	const (
		limit = 2000
		total = 300
	)
	n := startNode(t, hub.Config{QueueLimit: limit}, poll.Config{})
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))
	n.publish(t, "chat:a", total)
	cursor := first.Cursor
	want := uint64(1)
	for answers := 0; want <= total; answers++ {
		if answers > total {
			t.Fatal("following the cursor does not end")
		}
		r := n.get(t, values("channel", "chat:a", "cursor", cursor, "timeout", "10s").Encode())
		rp := decodeReply(t, r)
		for _, p := range rp.Publications {
			if p.Offset != want {
				t.Fatalf("answer %d: offset %d, want %d", answers, p.Offset, want)
			}
			want++
		}
		if len(rp.Publications) == 0 {
			t.Fatalf("answer %d: no publication, %d due", answers, total-want+1)
		}
		if len(r.Body) > limit+512 {
			t.Fatalf("answer %d: %d bytes, %d publications, queue limit %d", answers, len(r.Body), len(rp.Publications), limit)
		}
		if !rp.Recovered {
			t.Fatalf("answer %d: not recovered", answers)
		}
		if p := rp.position(t, "chat:a"); p.Offset != want-1 {
			t.Fatalf("answer %d: cursor at %d, last publication %d", answers, p.Offset, want-1)
		}
		cursor = rp.Cursor
	}
	// Two channels far behind share the limit; the second one's position
	// stays where its answer stops.
	a := n.publish(t, "chat:b", total)
	cur := cursorOf(map[string]stream.Position{
		"chat:a": {Epoch: first.position(t, "chat:a").Epoch, Offset: 0},
		"chat:b": {Epoch: a.Epoch, Offset: 0},
	})
	r := n.get(t, values("channel", "chat:b", "channel", "chat:a", "cursor", cur, "timeout", "0").Encode())
	rp := decodeReply(t, r)
	if len(r.Body) > limit+512 || len(rp.Publications) == 0 {
		t.Fatalf("two channels: %d bytes, %d publications, queue limit %d", len(r.Body), len(rp.Publications), limit)
	}
	last := map[string]uint64{}
	for _, p := range rp.Publications {
		if p.Offset != last[p.Channel]+1 {
			t.Fatalf("%s: offset %d after %d", p.Channel, p.Offset, last[p.Channel])
		}
		last[p.Channel] = p.Offset
	}
	for _, ch := range []string{"chat:a", "chat:b"} {
		if got := rp.position(t, ch).Offset; got != last[ch] {
			t.Fatalf("%s: cursor at %d, last publication %d", ch, got, last[ch])
		}
	}
}

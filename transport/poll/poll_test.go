package poll_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

func TestFirstPollStartsAtLatest(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	last := n.publish(t, "chat:a", 3)

	r := n.poll(t, values("channel", "chat:a", "channel", "chat:fresh", "timeout", "0"))
	if len(r.Publications) != 0 || !r.Recovered || len(r.Gaps) != 0 {
		t.Fatalf("first poll %+v, want no publications, recovered, no gaps", r)
	}
	if p := r.position(t, "chat:a"); p != last {
		t.Fatalf("cursor at %+v, want latest %+v", p, last)
	}
	if p := r.position(t, "chat:fresh"); p.Epoch == "" || p.Offset != 0 {
		t.Fatalf("cursor of a channel never published %+v, want its epoch at offset 0", p)
	}
	testkit.Eventually(t, "the short polls' sessions to close", func() bool { return n.Hub.Sessions() == 0 })
}

func TestCursorReturnsWhatWasMissed(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))
	n.publish(t, "chat:a", 5)

	r := n.poll(t, values("channel", "chat:a", "cursor", first.Cursor, "timeout", "0"))
	if len(r.Publications) != 5 || !r.Recovered {
		t.Fatalf("got %+v, want the 5 missed publications", r)
	}
	for i, p := range r.Publications {
		if p.Channel != "chat:a" || p.Offset != uint64(i+1) || p.Time == 0 || string(p.Data) != `{"i":`+string(rune('0'+i))+`}` {
			t.Fatalf("publication %d is %+v", i, p)
		}
	}
	if p := r.position(t, "chat:a"); p.Offset != 5 {
		t.Fatalf("cursor at %+v, want offset 5", p)
	}
	// The cursor moved past everything: a long poll following it now holds,
	// and a short one answers with nothing.
	again := n.poll(t, values("channel", "chat:a", "cursor", r.Cursor, "timeout", "0"))
	if len(again.Publications) != 0 || again.Cursor != r.Cursor {
		t.Fatalf("repeat poll %+v, want nothing new and the same cursor", again)
	}
	// The same cursor may be sent twice (a retried request): the answer is
	// the same.
	if twice := n.poll(t, values("channel", "chat:a", "cursor", first.Cursor, "timeout", "0")); len(twice.Publications) != 5 || twice.Cursor != r.Cursor {
		t.Fatalf("retried poll %+v", twice)
	}
}

func TestLongPollHoldsUntilPublication(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))

	got := n.async(t, values("channel", "chat:a", "cursor", first.Cursor, "timeout", "30s"))
	n.waiting(t, 1)
	select {
	case r := <-got:
		t.Fatalf("long poll answered before any publication: %d %s", r.Status, r.Body)
	default:
	}
	pos := n.publish(t, "chat:a", 1)
	r := decodeReply(t, await(t, got))
	if len(r.Publications) != 1 || r.Publications[0].Offset != pos.Offset || r.position(t, "chat:a") != pos {
		t.Fatalf("long poll %+v, want the publication at %+v", r, pos)
	}
	// The session lingers on the kept connection for its next poll, and
	// ends with the connection.
	n.client.CloseIdleConnections()
	testkit.Eventually(t, "the session to close with its connection", func() bool { return n.Hub.Sessions() == 0 })
}

func TestLongPollWithoutCursorHolds(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	n.publish(t, "chat:a", 2)
	got := n.async(t, values("channel", "chat:a"))
	n.waiting(t, 1)
	// Without a cursor the poll starts wherever the channel is when its
	// subscription lands, which the test cannot observe from outside: keep
	// publishing until it answers, then check it answered with a contiguous
	// run of new publications that ends at its cursor.
	var r pollReply
	testkit.Eventually(t, "the poll to answer", func() bool {
		n.publish(t, "chat:a", 1)
		select {
		case resp := <-got:
			r = decodeReply(t, resp)
			return true
		default:
			return false
		}
	})
	if len(r.Publications) == 0 || r.Publications[0].Offset < 3 {
		t.Fatalf("long poll %+v, want only publications made while it held", r)
	}
	for i, p := range r.Publications {
		if p.Offset != r.Publications[0].Offset+uint64(i) {
			t.Fatalf("publications not contiguous: %+v", r.Publications)
		}
	}
	if last := r.Publications[len(r.Publications)-1]; r.position(t, "chat:a").Offset != last.Offset {
		t.Fatalf("cursor at %+v, want the last publication %d", r.position(t, "chat:a"), last.Offset)
	}
}

func TestLongPollTimesOut(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	n.publish(t, "chat:a", 2)
	first := n.poll(t, values("channel", "chat:a", "channel", "chat:b", "timeout", "0"))
	for _, timeout := range []string{"20ms", "0.01s"} {
		r := n.poll(t, values("channel", "chat:a", "channel", "chat:b", "cursor", first.Cursor, "timeout", timeout))
		if len(r.Publications) != 0 || !r.Recovered || r.Cursor != first.Cursor {
			t.Fatalf("timed-out poll %+v, want nothing and cursor %s", r, first.Cursor)
		}
	}
}

func TestShortPollNeverHolds(t *testing.T) {
	// A default hold of an hour: were timeout=0 to hold, the test would
	// hang rather than pass.
	n := startNode(t, hub.Config{}, poll.Config{DefaultTimeout: time.Hour, MaxTimeout: time.Hour})
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))
	for _, timeout := range []string{"0", "0s", "0ms"} {
		r := n.poll(t, values("channel", "chat:a", "cursor", first.Cursor, "timeout", timeout))
		if len(r.Publications) != 0 || r.Cursor != first.Cursor {
			t.Fatalf("short poll %+v", r)
		}
	}
	testkit.Eventually(t, "the short polls' sessions to close", func() bool { return n.Hub.Sessions() == 0 })
	st := n.Hub.Stats()
	if st.Disconnects[hub.DisconnectKey{Transport: poll.TransportShortPoll, Cause: stream.ErrClosed}] != 4 {
		t.Fatalf("short polls counted as %v", st.Disconnects)
	}
}

func TestMultipleChannels(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	a := n.publish(t, "chat:a", 4)
	b := n.publish(t, "chat:b", 2)
	n.publish(t, "chat:c", 7)
	cur := cursorOf(map[string]stream.Position{
		"chat:a": {Epoch: a.Epoch, Offset: 1},
		"chat:b": {Epoch: b.Epoch, Offset: 0},
	})
	n.publish(t, "chat:b", 1)

	r := n.poll(t, values("channel", "chat:a", "channel", "chat:b", "channel", "chat:c", "cursor", cur, "timeout", "0"))
	if !r.Recovered || len(r.Gaps) != 0 {
		t.Fatalf("reply %+v, want recovered", r)
	}
	var gotA, gotB []uint64
	for _, p := range r.Publications {
		switch p.Channel {
		case "chat:a":
			gotA = append(gotA, p.Offset)
		case "chat:b":
			gotB = append(gotB, p.Offset)
		default:
			t.Fatalf("publication of %s: the poll carried no position for it", p.Channel)
		}
	}
	if !slices.Equal(gotA, []uint64{2, 3, 4}) || !slices.Equal(gotB, []uint64{1, 2, 3}) {
		t.Fatalf("chat:a offsets %v, chat:b offsets %v", gotA, gotB)
	}
	if r.position(t, "chat:a").Offset != 4 || r.position(t, "chat:b").Offset != 3 || r.position(t, "chat:c").Offset != 7 {
		t.Fatalf("cursor positions a=%+v b=%+v c=%+v", r.position(t, "chat:a"), r.position(t, "chat:b"), r.position(t, "chat:c"))
	}
	c, _ := stream.ParseCursor(r.Cursor)
	if c.Len() != 3 {
		t.Fatalf("cursor holds %d channels, want 3", c.Len())
	}

	// Live publications on several channels while a poll holds come back
	// together, each channel in order.
	got := n.async(t, values("channel", "chat:a", "channel", "chat:b", "cursor", r.Cursor))
	n.waiting(t, 1)
	n.publish(t, "chat:b", 1)
	live := decodeReply(t, await(t, got))
	if len(live.Publications) == 0 || live.Publications[0].Channel != "chat:b" || live.Publications[0].Offset != 4 {
		t.Fatalf("live reply %+v", live)
	}
	if live.position(t, "chat:a").Offset != 4 || live.position(t, "chat:b").Offset != 4 {
		t.Fatalf("live cursor a=%+v b=%+v", live.position(t, "chat:a"), live.position(t, "chat:b"))
	}
}

func TestCursorOlderThanHistory(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	old := n.publish(t, "short:x", 10) // history keeps the last 3
	ok := n.publish(t, "chat:a", 2)
	cur := cursorOf(map[string]stream.Position{
		"short:x": {Epoch: old.Epoch, Offset: 2},
		"chat:a":  {Epoch: ok.Epoch, Offset: 1},
	})
	r := n.poll(t, values("channel", "short:x", "channel", "chat:a", "cursor", cur, "timeout", "0"))
	if r.Recovered || !slices.Equal(r.Gaps, []string{"short:x"}) {
		t.Fatalf("reply %+v, want recovered false and a gap on short:x only", r)
	}
	if len(r.Publications) != 1 || r.Publications[0].Channel != "chat:a" || r.Publications[0].Offset != 2 {
		t.Fatalf("publications %+v, want only chat:a's missed one", r.Publications)
	}
	if p := r.position(t, "short:x"); p != old {
		t.Fatalf("cursor of the gap at %+v, want latest %+v", p, old)
	}
	// Following the new cursor, the channel is whole again.
	n.publish(t, "short:x", 1)
	next := n.poll(t, values("channel", "short:x", "channel", "chat:a", "cursor", r.Cursor, "timeout", "0"))
	if !next.Recovered || len(next.Gaps) != 0 || len(next.Publications) != 1 || next.Publications[0].Offset != 11 {
		t.Fatalf("next poll %+v", next)
	}
}

// TestForeignEpochIsAGap: a cursor from another life of the channel (its
// history was replaced since) is a gap, and the answer carries the new
// epoch's publications from its start: a poll that started live would skip
// what the channel's history holds, for a long poll and a short one alike.
func TestForeignEpochIsAGap(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	pos := n.publish(t, "chat:a", 3)
	cur := cursorOf(map[string]stream.Position{"chat:a": {Epoch: "another-life", Offset: 10}})
	for _, timeout := range []string{"0", "25s"} {
		r := n.poll(t, values("channel", "chat:a", "cursor", cur, "timeout", timeout))
		if r.Recovered || !slices.Equal(r.Gaps, []string{"chat:a"}) || r.position(t, "chat:a") != pos {
			t.Fatalf("timeout %s: reply %+v, want a gap and the cursor at %+v", timeout, r, pos)
		}
		var got []uint64
		for _, p := range r.Publications {
			if p.Epoch != pos.Epoch {
				t.Fatalf("timeout %s: publication of epoch %s, want %s", timeout, p.Epoch, pos.Epoch)
			}
			got = append(got, p.Offset)
		}
		if !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("timeout %s: publications %v, want the new epoch's 1, 2, 3", timeout, got)
		}
	}
	// A position ahead of the channel is no better.
	ahead := cursorOf(map[string]stream.Position{"chat:a": {Epoch: pos.Epoch, Offset: 99}})
	if r := n.poll(t, values("channel", "chat:a", "cursor", ahead, "timeout", "0")); r.Recovered || r.position(t, "chat:a") != pos {
		t.Fatalf("reply to a cursor ahead of the channel %+v", r)
	}
}

func TestShutdownReleasesHeldPoll(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	first := n.poll(t, values("channel", "chat:a", "timeout", "0"))
	got := n.async(t, values("channel", "chat:a", "cursor", first.Cursor, "timeout", "60s"))
	n.waiting(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Hub.Shutdown(ctx, 0); err != nil {
		t.Fatalf("shutdown waited for the poll: %v", err)
	}
	r := decodeReply(t, await(t, got))
	if len(r.Publications) != 0 || r.Cursor != first.Cursor {
		t.Fatalf("released poll %+v", r)
	}
	// The node takes no new poll; the client goes elsewhere with its cursor.
	testkit.WantError(t, n.get(t, values("channel", "chat:a", "cursor", first.Cursor).Encode()), http.StatusServiceUnavailable, 117)
}

func TestClientGoneReleasesSession(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	got := n.async(t, values("channel", "chat:a", "channel", "chat:b", "timeout", "60s"), func(r *http.Request) {
		*r = *r.WithContext(ctx)
	})
	n.waiting(t, 1)
	cancel()
	if r := await(t, got); r.Status != -1 {
		t.Fatalf("cancelled request got %d", r.Status)
	}
	testkit.Eventually(t, "the session to close", func() bool {
		st := n.Hub.Stats()
		return n.Hub.Sessions() == 0 && st.Subscriptions == 0 && st.Sessions[poll.TransportLongPoll] == 0
	})
	if len(n.Hub.Channels()) != 0 {
		t.Fatalf("channels still subscribed: %v", n.Hub.Channels())
	}
}

// TestLongPollGapAnswersAtOnce: a position that cannot be recovered is news
// the client must act on now, not after the long poll's timeout.
func TestLongPollGapAnswersAtOnce(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	n.publish(t, "chat:a", 1)
	var c stream.Cursor
	c.Set("chat:a", stream.Position{Epoch: "gone", Offset: 7})
	got := n.async(t, values("channel", "chat:a", "cursor", c.String(), "timeout", "60s"))
	r := decodeReply(t, await(t, got)) // await gives up after 10s
	if r.Recovered || len(r.Gaps) != 1 || r.Gaps[0] != "chat:a" {
		t.Fatalf("reply %+v, want a gap on chat:a", r)
	}
}

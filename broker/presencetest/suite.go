package presencetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

const (
	// waitTimeout bounds each wait: generous, since an implementation
	// under -race on a loaded machine may be slow; a correct one never gets
	// near it.
	waitTimeout = 15 * time.Second
	// longTTL is the TTL of an entry no test waits to expire.
	longTTL = time.Minute
)

// Event is one join or leave an implementation delivered.
type Event struct {
	Channel string
	Join    bool
	Client  stream.ClientInfo
}

// Node is one running Presence and the events its Run delivered.
type Node struct {
	hub.Presence
	mu     sync.Mutex
	events []Event
}

// Events returns a copy of what was delivered so far.
func (n *Node) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// Start runs p until the test ends, recording its events, and returns once
// events flow: it adds and removes a probe entry until its events come back.
func Start(t *testing.T, p hub.Presence) *Node {
	t.Helper()
	n := &Node{Presence: p}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, func(ch string, join bool, c stream.ClientInfo) {
			n.mu.Lock()
			n.events = append(n.events, Event{ch, join, c})
			n.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Presence.Run: %v", err)
		}
	})
	probe := "probe:" + unique()
	testkit.EventuallyWithin(t, waitTimeout, "events to flow", func() bool {
		add(t, p, probe, stream.ClientInfo{Client: "probe"}, longTTL)
		if err := p.Remove(context.Background(), probe, "probe"); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		return slices.ContainsFunc(n.Events(), func(e Event) bool { return e.Channel == probe })
	})
	return n
}

// Run runs the suite against implementations made by newPresence, a fresh
// one per subtest. newPresence may register cleanups on the t it is given.
func Run(t *testing.T, newPresence func(t *testing.T) hub.Presence) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, Start(t, newPresence(t)))
		})
	}
}

var cases = []struct {
	name string
	run  func(*testing.T, *Node)
}{
	{"AddAndList", testAddAndList},
	{"JoinAnnouncedOnce", testJoinAnnouncedOnce},
	{"RemoveAnnouncesLeave", testRemoveAnnouncesLeave},
	{"RemoveUnknown", testRemoveUnknown},
	{"Expiry", testExpiry},
	{"RefreshKeepsAlive", testRefreshKeepsAlive},
	{"ChannelsIndependent", testChannelsIndependent},
	{"EmptyChannel", testEmptyChannel},
}

func unique() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func channel() string { return "chat:" + unique() }

func add(t *testing.T, p hub.Presence, ch string, c stream.ClientInfo, ttl time.Duration) {
	t.Helper()
	if err := p.Add(context.Background(), ch, c, ttl); err != nil {
		t.Fatalf("Add(%q, %q): %v", ch, c.Client, err)
	}
}

func clients(t *testing.T, p hub.Presence, ch string) []stream.ClientInfo {
	t.Helper()
	list, err := p.Clients(context.Background(), ch)
	if err != nil {
		t.Fatalf("Clients(%q): %v", ch, err)
	}
	slices.SortFunc(list, func(a, b stream.ClientInfo) int {
		switch {
		case a.Client < b.Client:
			return -1
		case a.Client > b.Client:
			return 1
		}
		return 0
	})
	return list
}

func hasEvent(evs []Event, want Event) bool {
	return slices.ContainsFunc(evs, func(e Event) bool { return cmp.Equal(e, want) })
}

// eventsOf returns the events of one channel.
func eventsOf(n *Node, ch string) []Event {
	var out []Event
	for _, e := range n.Events() {
		if e.Channel == ch {
			out = append(out, e)
		}
	}
	return out
}

func testAddAndList(t *testing.T, n *Node) {
	ch := channel()
	a := stream.ClientInfo{Client: "a", User: "alice", Info: json.RawMessage(`{"name":"Alice"}`)}
	b := stream.ClientInfo{Client: "b"}
	add(t, n, ch, a, longTTL)
	add(t, n, ch, b, longTTL)
	if diff := cmp.Diff([]stream.ClientInfo{a, b}, clients(t, n, ch)); diff != "" {
		t.Errorf("Clients (-want +got):\n%s", diff)
	}
}

func testJoinAnnouncedOnce(t *testing.T, n *Node) {
	ch := channel()
	a := stream.ClientInfo{Client: "a", User: "alice"}
	for range 3 {
		add(t, n, ch, a, longTTL)
	}
	want := []Event{{ch, true, a}}
	testkit.EventuallyWithin(t, waitTimeout, "the join", func() bool { return len(eventsOf(n, ch)) > 0 })
	// A refresh is not a join: add a marker and wait for its join, which
	// comes after any repeat the refreshes could have caused.
	add(t, n, ch, stream.ClientInfo{Client: "z"}, longTTL)
	testkit.EventuallyWithin(t, waitTimeout, "the marker's join", func() bool { return len(eventsOf(n, ch)) > 1 })
	if diff := cmp.Diff(want, eventsOf(n, ch)[:len(eventsOf(n, ch))-1]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testRemoveAnnouncesLeave(t *testing.T, n *Node) {
	ch := channel()
	a := stream.ClientInfo{Client: "a", User: "alice", Info: json.RawMessage(`{"x":1}`)}
	add(t, n, ch, a, longTTL)
	if err := n.Remove(context.Background(), ch, "a"); err != nil {
		t.Fatal(err)
	}
	if got := clients(t, n, ch); len(got) != 0 {
		t.Errorf("Clients after Remove = %v, want none", got)
	}
	testkit.EventuallyWithin(t, waitTimeout, "join and leave", func() bool { return len(eventsOf(n, ch)) >= 2 })
	want := []Event{{ch, true, a}, {ch, false, a}}
	if diff := cmp.Diff(want, eventsOf(n, ch)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testRemoveUnknown(t *testing.T, n *Node) {
	ch := channel()
	if err := n.Remove(context.Background(), ch, "nobody"); err != nil {
		t.Fatalf("Remove of an unknown client: %v", err)
	}
	add(t, n, ch, stream.ClientInfo{Client: "z"}, longTTL)
	testkit.EventuallyWithin(t, waitTimeout, "the marker's join", func() bool { return len(eventsOf(n, ch)) > 0 })
	if got := eventsOf(n, ch); len(got) != 1 || !got[0].Join {
		t.Errorf("events = %+v, want only the marker's join", got)
	}
}

func testExpiry(t *testing.T, n *Node) {
	ch := channel()
	a := stream.ClientInfo{Client: "short", User: "u"}
	add(t, n, ch, a, 300*time.Millisecond)
	add(t, n, ch, stream.ClientInfo{Client: "long"}, longTTL)
	testkit.EventuallyWithin(t, waitTimeout, "the short entry to expire", func() bool { return len(clients(t, n, ch)) == 1 })
	if got := clients(t, n, ch); got[0].Client != "long" {
		t.Errorf("left after expiry: %v, want long", got)
	}
	testkit.EventuallyWithin(t, waitTimeout, "the expired entry's leave", func() bool {
		return hasEvent(eventsOf(n, ch), Event{ch, false, a})
	})
}

func testRefreshKeepsAlive(t *testing.T, n *Node) {
	ch := channel()
	a := stream.ClientInfo{Client: "a"}
	const ttl = 600 * time.Millisecond
	end := time.Now().Add(3 * ttl)
	for time.Now().Before(end) {
		add(t, n, ch, a, ttl)
		if got := clients(t, n, ch); len(got) != 1 {
			t.Fatalf("Clients while refreshed = %v", got)
		}
		time.Sleep(ttl / 6) // the refresh period itself, not a wait for an event
	}
	if evs := eventsOf(n, ch); len(evs) != 1 {
		t.Errorf("events of a refreshed entry = %+v, want one join", evs)
	}
}

func testChannelsIndependent(t *testing.T, n *Node) {
	ch1, ch2 := channel(), channel()
	add(t, n, ch1, stream.ClientInfo{Client: "a"}, longTTL)
	add(t, n, ch2, stream.ClientInfo{Client: "b"}, longTTL)
	if err := n.Remove(context.Background(), ch1, "b"); err != nil {
		t.Fatal(err)
	}
	if got := clients(t, n, ch1); len(got) != 1 || got[0].Client != "a" {
		t.Errorf("%s: %v", ch1, got)
	}
	if got := clients(t, n, ch2); len(got) != 1 || got[0].Client != "b" {
		t.Errorf("%s: %v", ch2, got)
	}
}

func testEmptyChannel(t *testing.T, n *Node) {
	if got := clients(t, n, channel()); len(got) != 0 {
		t.Errorf("Clients of a channel never used = %v", got)
	}
}

// RunShared runs the checks of presence shared between nodes: newPair
// returns two implementations that stand for two nodes on one backend.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b hub.Presence)) {
	t.Helper()
	t.Run("Shared", func(t *testing.T) {
		pa, pb := newPair(t)
		a, b := Start(t, pa), Start(t, pb)
		ch := channel()
		ca := stream.ClientInfo{Client: "on-a", User: "alice"}
		cb := stream.ClientInfo{Client: "on-b", Info: json.RawMessage(`{"n":2}`)}
		add(t, a, ch, ca, longTTL)
		add(t, b, ch, cb, longTTL)
		for _, n := range []*Node{a, b} {
			if diff := cmp.Diff([]stream.ClientInfo{ca, cb}, clients(t, n, ch)); diff != "" {
				t.Errorf("Clients (-want +got):\n%s", diff)
			}
		}
		if err := a.Remove(context.Background(), ch, ca.Client); err != nil {
			t.Fatal(err)
		}
		// Each node sees every node's joins and leaves.
		for name, n := range map[string]*Node{"a": a, "b": b} {
			testkit.EventuallyWithin(t, waitTimeout, "node "+name+" to see both joins and the leave", func() bool {
				evs := eventsOf(n, ch)
				return hasEvent(evs, Event{ch, true, ca}) &&
					hasEvent(evs, Event{ch, true, cb}) &&
					hasEvent(evs, Event{ch, false, ca})
			})
		}
		if got := clients(t, b, ch); len(got) != 1 || got[0].Client != cb.Client {
			t.Errorf("after the leave, b lists %v", got)
		}
	})
}

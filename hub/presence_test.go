package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// presenceEncoder encodes join and leave pushes as "join <channel> <client>
// <user>" so tests can tell them apart.
type presenceEncoder struct{ testEncoder }

func (*presenceEncoder) Presence(ch string, join bool, c *stream.ClientInfo) []byte {
	kind := "leave"
	if join {
		kind = "join"
	}
	return fmt.Appendf(nil, "%s %s %s %s", kind, ch, c.Client, c.User)
}
func (*presenceEncoder) Gap(*hub.Gap) []byte { return []byte("gap") }

// presenceHub runs a hub with memory presence and these namespaces: chat
// and admin (presence with join/leave), quiet (presence, no events), plain
// and secret (none).
func presenceHub(t *testing.T, cfg hub.Config) *hub.Hub {
	t.Helper()
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{
		{Name: "chat", Presence: true, JoinLeave: true},
		{Name: "quiet", Presence: true},
		{Name: "plain"},
		{Name: "admin", Presence: true, JoinLeave: true},
		{Name: "secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Namespaces = ns
	if cfg.Presence == nil {
		cfg.Presence = memory.NewPresence(memory.PresenceConfig{SweepInterval: 20 * time.Millisecond})
	}
	return transporttest.RunHub(t, cfg)
}

func userSession(t *testing.T, h *hub.Hub, user string) (*hub.Session, *drain) {
	t.Helper()
	s, err := h.NewSession(hub.SessionOptions{
		Transport: "test",
		Encoder:   &presenceEncoder{},
		Identity:  stream.Identity{User: user, Info: json.RawMessage(`{"name":"` + user + `"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, startDrain(s)
}

func subscribe(t *testing.T, s *hub.Session, ch string) {
	t.Helper()
	if _, err := s.Subscribe(context.Background(), ch, hub.SubscribeOptions{}); err != nil {
		t.Fatalf("subscribe %q: %v", ch, err)
	}
}

func clientsOf(t *testing.T, list []stream.ClientInfo, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list {
		out = append(out, c.Client+"/"+c.User+"/"+string(c.Info))
	}
	slices.Sort(out)
	return out
}

func TestPresenceJoinLeave(t *testing.T) {
	h := presenceHub(t, hub.Config{})
	ctx := context.Background()
	a, da := userSession(t, h, "alice")
	b, db := userSession(t, h, "bob")

	subscribe(t, a, "chat:1")
	if got, want := da.nextPush(t), "join chat:1 "+a.ID()+" alice"; got != want {
		t.Errorf("a's own join: %q, want %q", got, want)
	}
	subscribe(t, b, "chat:1")
	want := "join chat:1 " + b.ID() + " bob"
	if got := da.nextPush(t); got != want {
		t.Errorf("a sees %q, want %q", got, want)
	}
	if got := db.nextPush(t); got != want {
		t.Errorf("b sees %q, want %q", got, want)
	}

	list, err := a.Presence(ctx, "chat:1")
	wantList := []string{a.ID() + `/alice/{"name":"alice"}`, b.ID() + `/bob/{"name":"bob"}`}
	slices.Sort(wantList)
	if got := clientsOf(t, list, err); !slices.Equal(got, wantList) {
		t.Errorf("Session.Presence = %v, want %v", got, wantList)
	}
	list, err = h.Presence(ctx, "chat:1")
	if got := clientsOf(t, list, err); !slices.Equal(got, wantList) {
		t.Errorf("Hub.Presence = %v, want %v", got, wantList)
	}

	if err := b.Unsubscribe("chat:1"); err != nil {
		t.Fatal(err)
	}
	if got, want := da.nextPush(t), "leave chat:1 "+b.ID()+" bob"; got != want {
		t.Errorf("after unsubscribe a sees %q, want %q", got, want)
	}
	subscribe(t, b, "chat:1")
	da.nextPush(t) // b's second join

	b.Close()
	if got, want := da.nextPush(t), "leave chat:1 "+b.ID()+" bob"; got != want {
		t.Errorf("after disconnect a sees %q, want %q", got, want)
	}
	list, err = h.Presence(ctx, "chat:1")
	if got := clientsOf(t, list, err); !slices.Equal(got, []string{a.ID() + `/alice/{"name":"alice"}`}) {
		t.Errorf("after disconnect Presence = %v", got)
	}
}

// TestPresenceOffOrQuiet runs in a synctest bubble, so that no join or
// leave at all is seen.
func TestPresenceOffOrQuiet(t *testing.T) {
	synctest.Test(t, testPresenceOffOrQuiet)
}

func testPresenceOffOrQuiet(t *testing.T) {
	h := presenceHub(t, hub.Config{})
	ctx := context.Background()
	a, da := userSession(t, h, "alice")
	b, _ := userSession(t, h, "bob")
	for _, ch := range []string{"plain:1", "quiet:1"} {
		subscribe(t, a, ch)
		subscribe(t, b, ch)
		if err := b.Unsubscribe(ch); err != nil {
			t.Fatal(err)
		}
	}
	da.none(t, isPush)

	if _, err := a.Presence(ctx, "plain:1"); !errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("Session.Presence with presence off: %v, want ErrFeatureOff", err)
	}
	if _, err := h.Presence(ctx, "plain:1"); !errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("Hub.Presence with presence off: %v, want ErrFeatureOff", err)
	}
	list, err := a.Presence(ctx, "quiet:1")
	if got := clientsOf(t, list, err); len(got) != 1 {
		t.Errorf("quiet namespace keeps presence: got %v, want only alice", got)
	}
}

func TestPresencePermission(t *testing.T) {
	h := presenceHub(t, hub.Config{Policy: denyPolicy{}})
	ctx := context.Background()
	a, _ := userSession(t, h, "alice")
	if _, err := a.Presence(ctx, "admin:x"); !errors.Is(err, stream.ErrPermissionDenied) {
		t.Errorf("Session.Presence: %v, want ErrPermissionDenied", err)
	}
	if _, err := h.PresenceAs(ctx, stream.Identity{User: "alice"}, "admin:x"); !errors.Is(err, stream.ErrPermissionDenied) {
		t.Errorf("PresenceAs: %v, want ErrPermissionDenied", err)
	}
	// Permission comes before "presence is off": a client that may not ask
	// learns nothing of how the namespace is configured.
	if _, err := a.Presence(ctx, "secret:x"); !errors.Is(err, stream.ErrPermissionDenied) || errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("Session.Presence, denied and off: %v, want ErrPermissionDenied only", err)
	}
	if _, err := h.PresenceAs(ctx, stream.Identity{User: "alice"}, "secret:x"); !errors.Is(err, stream.ErrPermissionDenied) || errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("PresenceAs, denied and off: %v, want ErrPermissionDenied only", err)
	}
	if _, err := h.Presence(ctx, "secret:x"); !errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("Hub.Presence, off: %v, want ErrFeatureOff", err)
	}
	for _, ch := range []string{"bad name", "nowhere:x"} {
		if _, err := h.Presence(ctx, ch); err == nil {
			t.Errorf("Presence(%q) succeeded", ch)
		}
	}
	if _, err := h.PresenceAs(ctx, stream.Identity{}, "chat:x"); err != nil {
		t.Errorf("PresenceAs an allowed channel: %v", err)
	}
}

func TestPresenceNotConfigured(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{Presence: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := transporttest.RunHub(t, hub.Config{Namespaces: ns})
	s := newSession(t, h, &testEncoder{})
	subscribe(t, s, "x")
	if _, err := s.Presence(context.Background(), "x"); !errors.Is(err, stream.ErrFeatureOff) {
		t.Errorf("Presence on a node without one: %v, want ErrFeatureOff", err)
	}
	if err := h.TouchPresence(context.Background(), stream.Identity{}, "p", []string{"x"}, time.Second); err != nil {
		t.Errorf("TouchPresence on a node without presence: %v", err)
	}
}

// TestPresenceRefreshedAndExpires runs in a synctest bubble: the TTLs, the
// hub's refresh and the implementation's sweep run on the bubble's clock.
func TestPresenceRefreshedAndExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 300 * time.Millisecond
		h := presenceHub(t, hub.Config{PresenceTTL: ttl})
		ctx := context.Background()
		a, _ := userSession(t, h, "alice")
		subscribe(t, a, "chat:r")
		alone := []string{a.ID() + `/alice/{"name":"alice"}`}
		// A poll client's entry lives ttl after its last poll; the
		// session's is refreshed by the hub for as long as it stays.
		if err := h.TouchPresence(ctx, stream.Identity{User: "pat"}, "poller", []string{"chat:r", "plain:r"}, ttl); err != nil {
			t.Fatal(err)
		}
		list, err := h.Presence(ctx, "chat:r")
		if got := clientsOf(t, list, err); len(got) != 2 {
			t.Fatalf("with a poller: %v", got)
		}
		time.Sleep(ttl - time.Millisecond)
		list, err = h.Presence(ctx, "chat:r")
		if got := clientsOf(t, list, err); len(got) != 2 {
			t.Fatalf("the poller expired before its TTL: %v", got)
		}
		time.Sleep(2 * time.Millisecond)
		list, err = h.Presence(ctx, "chat:r")
		if got := clientsOf(t, list, err); !slices.Equal(got, alone) {
			t.Fatalf("the poller did not expire at its TTL: %v", got)
		}
		// Well past several TTLs the session is still listed.
		for range 16 {
			time.Sleep(ttl / 4)
			list, err := h.Presence(ctx, "chat:r")
			if got := clientsOf(t, list, err); !slices.Equal(got, alone) {
				t.Fatalf("a refreshed session vanished: %v", got)
			}
		}
	})
}

func TestPresenceUnderReplay(t *testing.T) {
	h := presenceHub(t, hub.Config{})
	a, da := userSession(t, h, "alice")
	subscribe(t, a, "chat:seam")
	da.nextPush(t)
	transporttest.PublishN(t, h, "chat:seam", 3)
	b, db := userSession(t, h, "bob")
	since := stream.Position{}
	page, err := h.History(context.Background(), "chat:seam", stream.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	since.Epoch = page.Latest.Epoch
	res, err := b.Subscribe(context.Background(), "chat:seam", hub.SubscribeOptions{
		Since: &since,
		Reply: func(hub.SubscribeResult) []byte { return []byte("reply") },
	})
	if err != nil || res.Replayed != 3 {
		t.Fatalf("subscribe: %+v, %v", res, err)
	}
	// The reply and the replay come before b's own join.
	if got := db.nextPush(t); got != "reply" {
		t.Fatalf("first push %q, want the reply", got)
	}
	for i := 1; i <= 3; i++ {
		if p := db.next(t); p.Offset != uint64(i) {
			t.Fatalf("replayed offset %d, want %d", p.Offset, i)
		}
	}
	if got, want := db.nextPush(t), "join chat:seam "+b.ID()+" bob"; got != want {
		t.Errorf("b's join %q, want %q", got, want)
	}
}

// pushesWithin advances the bubble's clock by d and returns every push
// queued to the drain meanwhile.
func pushesWithin(t *testing.T, d *drain, wait time.Duration) []string {
	t.Helper()
	time.Sleep(wait) // the bubble's clock: no real time passes
	synctest.Wait()
	var out []string
	for {
		select {
		case it, ok := <-d.items:
			if !ok {
				return out
			}
			if isPush(it) {
				out = append(out, string(it.Bytes))
			}
		default:
			return out
		}
	}
}

// TestPresenceJoinsCoalesced checks that the joins of one interval reach a
// subscriber as one push holding them all, in order: with a push per join,
// N clients joining a channel cost its N subscribers N² pushes.
func TestPresenceJoinsCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		h := presenceHub(t, hub.Config{JoinLeaveInterval: interval})
		w, dw := userSession(t, h, "watcher")
		subscribe(t, w, "chat:big")
		if got := pushesWithin(t, dw, 2*interval); len(got) != 1 || got[0] != "join chat:big "+w.ID()+" watcher" {
			t.Fatalf("watcher's own join: %q", got)
		}
		const n = 50
		var want strings.Builder
		for i := range n {
			s, _ := userSession(t, h, fmt.Sprintf("u%d", i))
			subscribe(t, s, "chat:big")
			fmt.Fprintf(&want, "join chat:big %s u%d", s.ID(), i)
		}
		got := pushesWithin(t, dw, 2*interval)
		if len(got) != 1 {
			t.Fatalf("%d joins within one interval reached the watcher as %d pushes, want 1", n, len(got))
		}
		if got[0] != want.String() {
			t.Errorf("coalesced push:\n%q\nwant\n%q", got[0], want.String())
		}
	})
}

// TestPresenceJoinLeaveLimit checks that a channel with more local
// subscribers than JoinLeaveLimit gets no join or leave push, and gets them
// again once it is back under it.
func TestPresenceJoinLeaveLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		h := presenceHub(t, hub.Config{JoinLeaveInterval: interval, JoinLeaveLimit: 3})
		a, da := userSession(t, h, "a")
		b, _ := userSession(t, h, "b")
		c, _ := userSession(t, h, "c")
		for _, s := range []*hub.Session{a, b, c} {
			subscribe(t, s, "chat:capped")
		}
		if got := pushesWithin(t, da, 2*interval); len(got) != 1 || strings.Count(got[0], "join ") != 3 {
			t.Fatalf("three joins at the limit: %q, want one push of three", got)
		}
		d, _ := userSession(t, h, "d")
		subscribe(t, d, "chat:capped")
		if got := pushesWithin(t, da, 2*interval); len(got) != 0 {
			t.Fatalf("a channel over the limit pushed %q", got)
		}
		if err := d.Unsubscribe("chat:capped"); err != nil {
			t.Fatal(err)
		}
		want := "leave chat:capped " + d.ID() + " d"
		if got := pushesWithin(t, da, 2*interval); len(got) != 1 || got[0] != want {
			t.Fatalf("back at the limit: %q, want %q", got, want)
		}
	})
}

// TestPresenceEventsBeforeSubscribingNotPushed checks that a subscriber
// hears only the joins and leaves that happened after it subscribed: with
// events gathered per interval, one that subscribed just after a client
// left was pushed that client's leave, of a client it never saw join.
func TestPresenceEventsBeforeSubscribingNotPushed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		h := presenceHub(t, hub.Config{JoinLeaveInterval: interval})
		a, _ := userSession(t, h, "a")
		w, dw := userSession(t, h, "w")
		subscribe(t, a, "chat:late")
		subscribe(t, w, "chat:late")
		if got := pushesWithin(t, dw, 2*interval); len(got) != 1 {
			t.Fatalf("joins of a and w: %q, want one push", got)
		}
		a.Close()
		synctest.Wait()
		b, db := userSession(t, h, "b")
		subscribe(t, b, "chat:late")
		leaveA := "leave chat:late " + a.ID() + " a"
		joinB := "join chat:late " + b.ID() + " b"
		if got := pushesWithin(t, db, 2*interval); len(got) != 1 || got[0] != joinB {
			t.Errorf("b, subscribed after a left, was pushed %q, want only its own join %q", got, joinB)
		}
		if got := pushesWithin(t, dw, 2*interval); len(got) != 1 || got[0] != leaveA+joinB {
			t.Errorf("w, subscribed throughout, was pushed %q, want %q", got, leaveA+joinB)
		}
	})
}

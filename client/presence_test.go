package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// nextPresence returns the next Join or Leave, skipping publications and
// Subscribed events.
func nextPresence(t *testing.T, sub *client.Subscription) client.Event {
	t.Helper()
	for {
		switch ev := next(t, sub).(type) {
		case client.Join, client.Leave:
			return ev
		case client.Publication, client.Subscribed:
		default:
			t.Fatalf("%s: got %#v while waiting for a join or leave", sub.Channel(), ev)
		}
	}
}

// presenceOf asks for Presence until want holds.
func presenceOf(t *testing.T, c *client.Client, ch string, want func([]stream.ClientInfo) bool) []stream.ClientInfo {
	t.Helper()
	var list []stream.ClientInfo
	testkit.EventuallyNil(t, testkit.Wait, fmt.Sprintf("presence of %s as wanted", ch), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if list, err = c.Presence(ctx, ch); err != nil {
			t.Fatalf("Presence(%q): %v", ch, err)
		}
		if !want(list) {
			return fmt.Errorf("Presence(%q) = %+v", ch, list)
		}
		return nil
	})
	return list
}

func users(list []stream.ClientInfo) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.User)
	}
	slices.Sort(out)
	return out
}

// TestPresence: a client on each transport shows up in presence once,
// whatever the number of its polls, can list presence itself, sees the
// joins and leaves of others where its transport carries them, and leaves
// when it stops (at once, or when a poll client's entry expires).
func TestPresence(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		const ch = "room:" + "lobby"
		watcher := n.newClient(t, client.Options{Token: token(t, "watcher", time.Hour), Transports: []client.Transport{client.WebSocket}})
		wsub, err := watcher.Subscribe(ch, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		watcher.run(t)
		subscribed(t, wsub)
		if j, ok := nextPresence(t, wsub).(client.Join); !ok || j.Client.User != "watcher" {
			t.Fatalf("watcher's own join: %#v", j)
		}

		c := n.newClient(t, client.Options{
			Token: token(t, "ann", time.Hour), Transports: []client.Transport{tr},
			LongPollTimeout: time.Second,
		})
		sub, err := c.Subscribe(ch, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.run(t)
		subscribed(t, sub)
		j, ok := nextPresence(t, wsub).(client.Join)
		if !ok || j.Channel != ch || j.Client.User != "ann" || j.Client.Client == "" {
			t.Fatalf("watcher sees %#v, want ann's join", j)
		}
		ann := j.Client.Client
		if streams(tr) {
			if own, ok := nextPresence(t, sub).(client.Join); !ok || own.Client.Client != ann {
				t.Fatalf("ann's own join: %#v", own)
			}
		}

		// Several polls later ann is still one entry, under one id.
		for i := 0; i < 3; i++ {
			n.publish(t, ch, `"tick"`)
		}
		expectOffsets(t, sub, 1, 3)
		list := presenceOf(t, c.Client, ch, func(l []stream.ClientInfo) bool { return len(l) == 2 })
		if got := users(list); !slices.Equal(got, []string{"ann", "watcher"}) {
			t.Errorf("Presence = %v", got)
		}
		for _, e := range list {
			if e.User == "ann" && e.Client != ann {
				t.Errorf("ann listed as %s, joined as %s", e.Client, ann)
			}
		}

		if streams(tr) {
			// ann's own stream carries the joins of others.
			other := n.newClient(t, client.Options{Token: token(t, "bob", time.Hour), Transports: []client.Transport{client.WebSocket}})
			if _, err := other.Subscribe(ch, client.SubscribeOptions{}); err != nil {
				t.Fatal(err)
			}
			other.run(t)
			for {
				ev := nextPresence(t, sub)
				if j, ok := ev.(client.Join); ok && j.Client.User == "bob" {
					break
				}
			}
		}

		c.stop()
		for {
			ev := nextPresence(t, wsub)
			if l, ok := ev.(client.Leave); ok && l.Client.Client == ann {
				break
			}
		}
		presenceOf(t, watcher.Client, ch, func(l []stream.ClientInfo) bool { return !slices.Contains(users(l), "ann") })
	})
}

func TestPresenceNotAvailable(t *testing.T) {
	n := newNode(t)
	c := n.newClient(t, client.Options{Transports: []client.Transport{client.SSE}})
	c.run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Presence(ctx, "chat:x"); err == nil {
		t.Fatal("Presence on a namespace without presence succeeded")
	}
}

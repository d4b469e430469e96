package hub_test

import (
	"context"
	"slices"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// grantPolicy lets a client subscribe to a channel of the "granted"
// namespace only when its token's channel claim covers it.
type grantPolicy struct{}

func (grantPolicy) Allow(id *stream.Identity, action stream.Action, channel string, ns *stream.Namespace) error {
	if ns.Name == "granted" && action == stream.ActionSubscribe && !id.Grants(channel) {
		return stream.ErrPermissionDenied
	}
	return nil
}

// TestRefreshEndsSubscriptionsTheTokenNoLongerAllows checks that a session
// whose refreshed token no longer grants a channel it is subscribed to
// leaves it and is told so with an unsubscribed push carrying the refusal,
// while the subscriptions the new token still allows go on: before, a
// token narrowed by a refresh kept every channel the old one had opened.
func TestRefreshEndsSubscriptionsTheTokenNoLongerAllows(t *testing.T) {
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "granted"}})
	if err != nil {
		t.Fatal(err)
	}
	h := transporttest.RunHub(t, hub.Config{Namespaces: ns, Policy: grantPolicy{}})
	ctx := context.Background()
	s, err := h.NewSession(hub.SessionOptions{
		Transport: "test", Encoder: &testEncoder{},
		Identity: stream.Identity{User: "u", Channels: []string{"granted:a", "granted:b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	d := startDrain(s)
	for _, ch := range []string{"granted:a", "granted:b", "open"} {
		if _, err := s.Subscribe(ctx, ch, hub.SubscribeOptions{}); err != nil {
			t.Fatalf("subscribe %s: %v", ch, err)
		}
	}

	if err := s.Refresh(stream.Identity{User: "u", Channels: []string{"granted:b"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := d.nextPush(t), "unsubscribed granted:a "+stream.ErrPermissionDenied.Error(); got != want {
		t.Errorf("after the refresh: %q, want %q", got, want)
	}
	got := s.Channels()
	slices.Sort(got)
	if want := []string{"granted:b", "open"}; !slices.Equal(got, want) {
		t.Errorf("subscribed to %v after the refresh, want %v", got, want)
	}
	for _, ch := range []string{"granted:a", "granted:b", "open"} {
		if _, err := h.Publish(ctx, stream.PublishRequest{Channel: ch, Data: []byte(`1`)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"granted:b", "open"} {
		if p := d.next(t); p.Channel != want {
			t.Errorf("delivered %s, want %s (granted:a was left)", p.Channel, want)
		}
	}
}

package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/stream"
)

// TestTwoNodesShareChannels: two nodes that share nothing but a broker
// serve one set of channels. A WebSocket subscriber on A receives what the
// API published on B, and a polling client whose polls alternate between
// the nodes sees every publication once, in order. Each broker in turn.
func TestTwoNodesShareChannels(t *testing.T) {
	forEachBroker(t, func(t *testing.T, kind brokerKind) {
		br := kind.start(t)
		a := startNode(t, "--broker", br.url)
		b := startNode(t, "--broker", br.url)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const ch = "chat:nodes"

		c, _, err := wsclient.Dial(ctx, a.WS, wsclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := subscribe(c, ch, nil); err != nil {
			t.Fatal(err)
		}
		p, err := b.publish(ctx, ch, map[string]string{"from": "b"})
		if err != nil {
			t.Fatal(err)
		}
		got := readMessages(t, c, 1)
		if f := got[0]; f.Offset != p.Offset || f.Epoch != p.Epoch || string(f.Data) != `{"from":"b"}` {
			t.Fatalf("node A delivered %+v, want B's publication %+v", f, p)
		}

		// Polls alternate between the nodes; every publication arrives once.
		nodes := []*node{a, b}
		cursor := cursorAt(t, ch, p.Epoch, p.Offset)
		var offsets []uint64
		const total = 30
		for i := 0; len(offsets) < total && i < 200; i++ {
			if i < total {
				if _, err := nodes[i%2].publish(ctx, ch, i); err != nil {
					t.Fatal(err)
				}
			}
			q := url.Values{"channel": {ch}, "timeout": {"0"}, "cursor": {cursor}}
			var reply struct {
				Publications []struct{ Offset uint64 } `json:"publications"`
				Cursor       string                    `json:"cursor"`
				Recovered    bool                      `json:"recovered"`
			}
			if err := getJSON(ctx, nodes[(i+1)%2].URL+"/connection/poll?"+q.Encode(), &reply); err != nil {
				t.Fatal(err)
			}
			if !reply.Recovered {
				t.Fatalf("poll %d not recovered", i)
			}
			for _, pub := range reply.Publications {
				offsets = append(offsets, pub.Offset)
			}
			cursor = reply.Cursor
		}
		for i, off := range offsets {
			if off != p.Offset+1+uint64(i) {
				t.Fatalf("polls across nodes got offsets %v: a gap or a duplicate at %d", offsets, i)
			}
		}
		if len(offsets) != total {
			t.Fatalf("polls got %d publications, want %d", len(offsets), total)
		}
	})
}

// TestReadinessFollowsBroker: /readyz fails while the broker is unreachable
// and recovers with it, so a load balancer sends clients elsewhere
// meanwhile. Each broker in turn.
func TestReadinessFollowsBroker(t *testing.T) {
	forEachBroker(t, func(t *testing.T, kind brokerKind) {
		br := kind.start(t)
		n := startNode(t, "--broker", br.url)
		waitReady(t, http.StatusOK, n)
		br.down()
		waitReady(t, http.StatusServiceUnavailable, n)
		br.restart()
		waitReady(t, http.StatusOK, n)
	})
}

func getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// cursorAt packs one channel's position as the HTTP transports take it.
func cursorAt(t *testing.T, channel, epoch string, offset uint64) string {
	t.Helper()
	var c stream.Cursor
	c.Set(channel, stream.Position{Epoch: epoch, Offset: offset})
	return c.String()
}

package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// TestRedisNodesShareChannels: two nodes that share nothing but a Redis
// server serve one set of channels. A WebSocket subscriber on A receives what
// the API published on B, and a long-polling client whose polls alternate
// between the nodes sees every publication once, in order.
func TestRedisNodesShareChannels(t *testing.T) {
	rs := testenv.Redis(t)
	a := startNode(t, "--broker", rs.URL())
	b := startNode(t, "--broker", rs.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c, _, err := wsclient.Dial(ctx, a.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := subscribe(c, "chat:nodes", nil); err != nil {
		t.Fatal(err)
	}
	p, err := b.publish(ctx, "chat:nodes", map[string]string{"from": "b"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, frame, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting on node A for what B published: %v", err)
		}
		f, _ := protocol.DecodeFrame(frame)
		if f.Type == "message" {
			if f.Offset != p.Offset || f.Epoch != p.Epoch || string(f.Data) != `{"from":"b"}` {
				t.Fatalf("node A delivered %+v, want B's publication %+v", f, p)
			}
			break
		}
	}

	// Polls alternate between the nodes; every publication arrives once.
	nodes := []*node{a, b}
	cursor := ""
	var got []uint64
	const total = 30
	for i := 0; len(got) < total && i < 200; i++ {
		if i < total {
			if _, err := nodes[i%2].publish(ctx, "chat:nodes", i); err != nil {
				t.Fatal(err)
			}
		}
		q := url.Values{"channel": {"chat:nodes"}, "timeout": {"0"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		} else {
			q.Set("cursor", cursorAt(t, "chat:nodes", p.Epoch, p.Offset))
		}
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
			got = append(got, pub.Offset)
		}
		cursor = reply.Cursor
	}
	for i, off := range got {
		if off != p.Offset+1+uint64(i) {
			t.Fatalf("polls across nodes got offsets %v: a gap or a duplicate at %d", got, i)
		}
	}
	if len(got) != total {
		t.Fatalf("polls got %d publications, want %d", len(got), total)
	}
}

// TestRedisReadiness: /readyz fails while the broker is unreachable and
// recovers with it, so a load balancer sends clients elsewhere meanwhile.
func TestRedisReadiness(t *testing.T) {
	rs := testenv.Redis(t)
	n := startNode(t, "--broker", rs.URL())
	ready := func() int {
		resp, err := http.Get(n.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for ready() != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz did not turn %d", want)
			}
			time.Sleep(50 * time.Millisecond) // polling a status, bounded by the deadline
		}
	}
	waitStatus(http.StatusOK)
	rs.Kill()
	waitStatus(http.StatusServiceUnavailable)
	rs.Restart()
	waitStatus(http.StatusOK)
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

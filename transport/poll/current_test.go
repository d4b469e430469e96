package poll_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// countingBroker counts the history reads the hub makes.
type countingBroker struct {
	hub.Broker
	histories atomic.Int64
}

func (b *countingBroker) History(ctx context.Context, ch string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	b.histories.Add(1)
	return b.Broker.History(ctx, ch, q)
}

// liveEncoder is the encoder of a plain live subscriber in these tests.
type liveEncoder struct{}

func (liveEncoder) Publication(p *stream.Publication) []byte         { return []byte(fmt.Sprint(p.Offset)) }
func (liveEncoder) Ping() []byte                                     { return nil }
func (liveEncoder) Presence(string, bool, *stream.ClientInfo) []byte { return nil }
func (liveEncoder) Gap(g *hub.Gap) []byte                            { return []byte(g.Channel) }
func (liveEncoder) Unsubscribed(string, error) []byte                { return nil }

// A client that keeps up polls again from the newest publication it was
// given, which is the newest the node delivered: its poll goes live at once
// and costs the broker no history read, and still gets what follows.
func TestLongPollAtCurrentPositionReadsNoHistory(t *testing.T) {
	b := &countingBroker{Broker: memory.New(memory.Config{})}
	n := startNode(t, hub.Config{Broker: b}, poll.Config{})
	const ch = "chat:current"
	// A live subscriber keeps the channel on the node, as the other
	// clients of a busy channel do.
	s, err := n.Hub.NewSession(hub.SessionOptions{Transport: stream.WebSocket, Encoder: liveEncoder{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Subscribe(context.Background(), ch, hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	first := n.publish(t, ch, 1)
	testkit.Eventually(t, "the publication to reach the live subscriber", s.Queued)

	before := b.histories.Load()
	reply := n.async(t, values("channel", ch, "cursor", cursorOf(map[string]stream.Position{ch: first}), "timeout", "30s"))
	testkit.Eventually(t, "the poll to hold", func() bool {
		st := n.Hub.Stats()
		return st.Sessions[poll.TransportLongPoll] == 1 && st.Subscriptions == 2
	})
	second := n.publish(t, ch, 1)
	r := decodeReply(t, await(t, reply))
	if len(r.Publications) != 1 || r.Publications[0].Offset != second.Offset || !r.Recovered {
		t.Fatalf("reply %+v, want offset %d alone, recovered", r, second.Offset)
	}
	if got := r.position(t, ch); got != second {
		t.Errorf("cursor at %v, want %v", got, second)
	}
	if got := b.histories.Load() - before; got != 0 {
		t.Errorf("a poll at the channel's newest position read history %d times, want 0", got)
	}
}

// Many clients long-polling one channel, some keeping up and some behind
// (publications land between their polls), each get every publication
// once, in order, with a cursor that follows them; a poll abandoned
// mid-hold and a client that stops polling hold nobody up.
func TestManyLongPollsFollowOneChannel(t *testing.T) {
	n := startNode(t, hub.Config{}, poll.Config{})
	const (
		ch      = "chat:many"
		clients = 24
		total   = 40
	)
	// A live subscriber keeps the channel on the node between rounds, as
	// a busy channel's other clients do; without one, a round that
	// answers every poll at once can take the channel off the node.
	live, err := n.Hub.NewSession(hub.SessionOptions{Transport: stream.WebSocket, Encoder: liveEncoder{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(live.Close)
	if _, err := live.Subscribe(context.Background(), ch, hub.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	start := n.publish(t, ch, 1)
	testkit.Eventually(t, "the publication to reach the live subscriber", live.Queued)
	startCursor := cursorOf(map[string]stream.Position{ch: start})

	// A client that polls once and stops, and a poll abandoned while held.
	stopped := n.async(t, values("channel", ch, "cursor", startCursor, "timeout", "30s"))
	abandonCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	abandoned := make(chan error, 1)
	go func() {
		req, err := newRequest(abandonCtx, n.url+"/connection/poll?"+values("channel", ch, "cursor", startCursor, "timeout", "30s").Encode())
		if err == nil {
			var resp *http.Response
			if resp, err = n.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		abandoned <- err
	}()
	n.waiting(t, 2)
	abandon()
	if err := <-abandoned; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned poll: %v, want it cancelled", err)
	}

	// A client that misses a publication would wait for it for good: the
	// clients give up after a generous bound instead.
	ctx, cancel := context.WithTimeout(context.Background(), 3*testkit.Wait)
	defer cancel()
	var held atomic.Int64 // polls of the clients in flight
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- followOne(ctx, n, ch, startCursor, start, total, &held, c)
		}()
	}
	// Half the publications go out while every client holds a poll at
	// the newest position; the others in bursts, which find clients
	// between polls and behind.
	for i := 1; i <= total; i++ {
		if i%2 == 1 {
			want := int64(clients)
			if i == 1 {
				want++ // the client that stops has not been answered yet
			}
			testkit.Eventually(t, "every client to hold a poll", func() bool {
				// Parked polls, not sessions: a client's session may
				// linger on its connection between polls.
				return poll.Parked(n.handler) == int(want) && held.Load() == clients
			})
		}
		n.publish(t, ch, 1)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// A client far behind, polling while the channel is on the node, gets
	// the whole backlog from history.
	behind := n.poll(t, values("channel", ch, "cursor", startCursor, "timeout", "30s"))
	if len(behind.Publications) != total {
		t.Fatalf("a client behind by %d got %d publications", total, len(behind.Publications))
	}
	for i, p := range behind.Publications {
		if p.Offset != start.Offset+1+uint64(i) {
			t.Fatalf("a client behind got offset %d at %d, want %d", p.Offset, i, start.Offset+1+uint64(i))
		}
	}
	r := decodeReply(t, await(t, stopped))
	if len(r.Publications) == 0 || r.Publications[0].Offset != start.Offset+1 {
		t.Errorf("the client that stopped got %+v, want offset %d first", r.Publications, start.Offset+1)
	}
}

// followOne polls ch from cursor until it has the publication at offset
// from+total, checking that every publication comes once, in order, and
// that each reply's cursor is at the last one it carried.
func followOne(ctx context.Context, n *node, ch, cursor string, from stream.Position, total int, held *atomic.Int64, c int) error {
	next := from.Offset + 1
	client := ""
	for next <= from.Offset+uint64(total) {
		q := values("channel", ch, "cursor", cursor, "timeout", "30s")
		if client != "" {
			q.Set("client", client)
		}
		req, err := newRequest(ctx, n.url+"/connection/poll?"+q.Encode())
		if err != nil {
			return err
		}
		held.Add(1)
		resp, err := n.client.Do(req)
		held.Add(-1)
		if err != nil {
			return fmt.Errorf("client %d, waiting for offset %d: %w", c, next, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("client %d: status %d %s: %v", c, resp.StatusCode, body, err)
		}
		var r pollReply
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("client %d: %s: %w", c, body, err)
		}
		if !r.Recovered || len(r.Gaps) != 0 {
			return fmt.Errorf("client %d: reply %s not recovered", c, body)
		}
		if client != "" && r.Client != client {
			return fmt.Errorf("client %d: client id %q, want %q kept", c, r.Client, client)
		}
		client = r.Client
		for _, p := range r.Publications {
			if p.Offset != next || p.Epoch != from.Epoch {
				return fmt.Errorf("client %d: got offset %d of %q, want %d of %q: %s", c, p.Offset, p.Epoch, next, from.Epoch, body)
			}
			next++
		}
		cur, err := stream.ParseCursor(r.Cursor)
		if err != nil {
			return fmt.Errorf("client %d: cursor %q: %w", c, r.Cursor, err)
		}
		if p, _ := cur.Get(ch); p != (stream.Position{Epoch: from.Epoch, Offset: next - 1}) {
			return fmt.Errorf("client %d: cursor at %v after offset %d", c, p, next-1)
		}
		cursor = r.Cursor
	}
	return nil
}

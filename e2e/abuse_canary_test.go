package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// canaryChannel is where the canary listens, apart from every attack.
const canaryChannel = "canary:feed"

// canaryRate is how many publications a second the canary receives.
const canaryRate = 20

// canaryFactor and canarySlack bound the canary's p99 latency under attack:
// at most canaryFactor times its quiet p99 plus canarySlack. Generous on
// purpose — the tests share a small machine — this is a bound a node that
// lets one client take it down breaks by far, not a benchmark.
const (
	canaryFactor = 10
	canarySlack  = 500 * time.Millisecond
)

// canary is a WebSocket subscriber on a node under attack, fed canaryRate
// publications a second through the HTTP API. Each publication carries the
// time it was sent, so the canary knows its latency.
type canary struct {
	n    *node
	conn *wsclient.Conn
	stop chan struct{}
	pub  sync.WaitGroup

	mu       sync.Mutex
	attack   bool            // the attack has started: latencies count as under attack
	sent     int             // publications the API accepted
	sendErr  error           // the first publish the API refused
	got      []uint64        // offsets received, in order
	quietLat []time.Duration // latencies before the attack
	loudLat  []time.Duration // latencies under it
	readErr  error           // how the canary's connection ended, if it did
}

func startCanary(t *testing.T, ctx context.Context, n *node) *canary {
	t.Helper()
	c, _, err := wsclient.Dial(ctx, n.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &canary{n: n, conn: c, stop: make(chan struct{})}
	out := protocol.AppendCommand(nil, protocol.Command{Type: protocol.TypeConnect, ID: 1})
	if err := c.WriteText(out); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: protocol.TypeSubscribe, ID: 2, Channel: canaryChannel})); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan struct{})
	go cn.read(subscribed)
	select {
	case <-subscribed:
	case <-time.After(testkit.Wait):
		t.Fatal("the canary was not subscribed in time")
	}
	cn.pub.Add(1)
	go cn.publish(ctx)
	t.Cleanup(cn.halt)
	return cn
}

// read records every publication of the canary channel and answers pings.
func (cn *canary) read(subscribed chan struct{}) {
	for {
		_, b, err := cn.conn.ReadMessage()
		if err != nil {
			cn.mu.Lock()
			cn.readErr = err
			cn.mu.Unlock()
			return
		}
		now := time.Now()
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			continue
		}
		switch f.Type {
		case protocol.TypePing:
			_ = cn.conn.WriteText([]byte(`{"type":"pong"}`))
		case protocol.TypeSubscribe:
			if f.ID == 2 && f.Error == nil {
				close(subscribed)
			}
		case protocol.TypeMessage:
			var d struct {
				Sent int64 `json:"sent"`
			}
			_ = json.Unmarshal(f.Data, &d)
			lat := now.Sub(time.Unix(0, d.Sent))
			cn.mu.Lock()
			cn.got = append(cn.got, f.Offset)
			if cn.attack {
				cn.loudLat = append(cn.loudLat, lat)
			} else {
				cn.quietLat = append(cn.quietLat, lat)
			}
			cn.mu.Unlock()
		}
	}
}

// publish sends canaryRate publications a second until halt.
func (cn *canary) publish(ctx context.Context) {
	defer cn.pub.Done()
	tick := time.NewTicker(time.Second / canaryRate)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-cn.stop:
			return
		case <-ctx.Done():
			return
		}
		_, err := cn.n.publish(ctx, canaryChannel, map[string]int64{"sent": time.Now().UnixNano()})
		cn.mu.Lock()
		if err != nil && cn.sendErr == nil {
			cn.sendErr = err
		}
		if err == nil {
			cn.sent++
		}
		cn.mu.Unlock()
	}
}

func (cn *canary) halt() {
	select {
	case <-cn.stop:
	default:
		close(cn.stop)
	}
	cn.pub.Wait()
}

// quiet waits for a second's worth of publications before the attack, for
// the quiet latency, then marks the attack as started.
func (cn *canary) quiet(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, "the canary's quiet publications", func() bool {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		return len(cn.quietLat) >= canaryRate
	})
	cn.mu.Lock()
	cn.attack = true
	cn.mu.Unlock()
}

// finish stops the publications and checks the canary got each one, in
// order, with its latency under attack within the bound.
func (cn *canary) finish(t *testing.T) {
	t.Helper()
	cn.halt()
	cn.mu.Lock()
	sent, sendErr := cn.sent, cn.sendErr
	cn.mu.Unlock()
	if sendErr != nil {
		t.Errorf("the API refused a canary publication under attack: %v", sendErr)
	}
	testkit.EventuallyNil(t, testkit.Wait, "the canary to receive every publication", func() error {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		if len(cn.got) >= sent {
			return nil
		}
		if cn.readErr != nil {
			return fmt.Errorf("the canary's connection ended after %d of %d publications: %w", len(cn.got), sent, cn.readErr)
		}
		return fmt.Errorf("%d of %d publications", len(cn.got), sent)
	})
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for i := 1; i < len(cn.got); i++ {
		if cn.got[i] != cn.got[i-1]+1 {
			t.Fatalf("the canary saw offset %d after %d: lost or repeated publications", cn.got[i], cn.got[i-1])
		}
	}
	if len(cn.got) != sent {
		t.Fatalf("the canary received %d publications, %d were sent", len(cn.got), sent)
	}
	quiet, loud := p99(cn.quietLat), p99(cn.loudLat)
	bound := canaryFactor*quiet + canarySlack
	t.Logf("canary: %d publications; p99 latency %v quiet, %v under attack (bound %v)", sent, quiet, loud, bound)
	if loud > bound {
		t.Errorf("the canary's p99 latency under attack was %v, over %d× its quiet %v + %v", loud, canaryFactor, quiet, canarySlack)
	}
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

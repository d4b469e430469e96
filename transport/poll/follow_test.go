package poll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport/poll"
)

// TestFollowingTheCursorSeesEverythingOnce is the transport's promise:
// clients that poll again and again with the cursor of the previous reply
// see every publication of every channel exactly once and in order, while
// publications keep arriving between, during and across their polls.
func TestFollowingTheCursorSeesEverythingOnce(t *testing.T) {
	for _, m := range []followMode{
		{name: "long", timeout: "10s", holds: true},
		{name: "short", timeout: "0"},
		{name: "brief", timeout: "1ms"}, // holds that often time out mid-stream
		// A queue limit below one publication: a held poll answers with
		// the one live publication it may hold (the first item always
		// fits), or ends as a slow consumer when more arrive at once,
		// and the next poll replays the rest from history.
		{name: "tiny queue", timeout: "10s", holds: true, cfg: hub.Config{QueueLimit: 16}},
		{name: "small queue", timeout: "10s", holds: true, cfg: hub.Config{QueueLimit: 200}},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			followers(t, m)
		})
	}
}

type followMode struct {
	name    string
	timeout string
	// holds is set when polls hold long enough for the publisher to wait
	// until all of them are held.
	holds bool
	cfg   hub.Config
}

func followers(t *testing.T, m followMode) {
	const (
		pollers = 4
		perChan = 150
	)
	channels := []string{"chat:a", "chat:b", "chat:c"}
	n := startNode(t, m.cfg, poll.Config{})

	// Each poller begins where the channels are before anything is
	// published, so it must see all of it.
	start := n.poll(t, url.Values{"channel": channels, "timeout": {"0"}})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, pollers+1)
	// Every few rounds the publisher waits: for some poll to answer, so
	// that publications pile up behind polls and are replayed, or — when
	// polls hold — for every poller to be held, caught up, so that the
	// next round is delivered live.
	var replies atomic.Int64
	allHeld := func() bool {
		st := n.Hub.Stats()
		return st.Sessions[poll.TransportLongPoll] == pollers && st.Subscriptions == pollers*int64(len(channels))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= perChan; i++ {
			switch {
			case i%10 != 0:
			case m.holds && i%20 == 0:
				for !allHeld() && ctx.Err() == nil {
					runtime.Gosched()
				}
			default:
				seen := replies.Load()
				for replies.Load() == seen && ctx.Err() == nil {
					runtime.Gosched()
				}
			}
			for _, ch := range channels {
				data := fmt.Sprintf(`{"n":%d}`, i)
				if _, err := n.Hub.Publish(ctx, stream.PublishRequest{Channel: ch, Data: []byte(data)}); err != nil {
					errs <- fmt.Errorf("publish: %w", err)
					return
				}
			}
		}
	}()
	for p := 0; p < pollers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := follow(ctx, n, channels, start.Cursor, m.timeout, perChan, &replies); err != nil {
				errs <- fmt.Errorf("poller %d: %w", p, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := n.Hub.Stats()
	if m.holds && st.Deliveries == 0 {
		t.Error("no publication was delivered live to a held poll")
	}
	if m.cfg.QueueLimit == 16 && st.Replayed == 0 {
		t.Errorf("no poll replayed what a tiny queue could not hold: %+v", st)
	}
}

// follow polls until it has seen want publications of every channel,
// checking that each is the next one of its channel.
func follow(ctx context.Context, n *node, channels []string, cursor, timeout string, want uint64, replies *atomic.Int64) error {
	next := make(map[string]uint64, len(channels))
	for _, ch := range channels {
		next[ch] = 1
	}
	done := func() bool {
		for _, ch := range channels {
			if next[ch] <= want {
				return false
			}
		}
		return true
	}
	for polls := 0; !done(); polls++ {
		if ctx.Err() != nil {
			return fmt.Errorf("gave up after %d polls at %v", polls, next)
		}
		q := url.Values{"channel": channels, "cursor": {cursor}, "timeout": {timeout}}
		r, err := n.pollErr(ctx, q)
		if err != nil {
			return err
		}
		replies.Add(1)
		if !r.Recovered || len(r.Gaps) != 0 {
			return fmt.Errorf("poll %d: not recovered, gaps %v", polls, r.Gaps)
		}
		for _, p := range r.Publications {
			if p.Offset != next[p.Channel] {
				return fmt.Errorf("poll %d: %s offset %d, want %d", polls, p.Channel, p.Offset, next[p.Channel])
			}
			if string(p.Data) != fmt.Sprintf(`{"n":%d}`, p.Offset) {
				return fmt.Errorf("poll %d: %s offset %d carries %s", polls, p.Channel, p.Offset, p.Data)
			}
			next[p.Channel]++
		}
		cursor = r.Cursor
	}
	// Nothing more than was published.
	r, err := n.pollErr(ctx, url.Values{"channel": channels, "cursor": {cursor}, "timeout": {"0"}})
	if err != nil {
		return err
	}
	if len(r.Publications) != 0 {
		return fmt.Errorf("publications after the last one: %+v", r.Publications)
	}
	return nil
}

// pollErr is poll for goroutines other than the test's: it reports instead
// of failing.
func (n *node) pollErr(ctx context.Context, q url.Values) (pollReply, error) {
	var out pollReply
	req, err := newRequest(ctx, n.url+"/connection/poll?"+q.Encode())
	if err != nil {
		return out, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return out, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, err
	}
	return out, nil
}

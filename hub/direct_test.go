package hub_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// directConn is a transport's connection in miniature that takes direct
// writes (hub.Direct), the way transport/ws does: mu guards writing, which
// says whether the fan-out (between Claim and the end of WriteNow) or the
// writer goroutine may write; never both. Every third direct write leaves
// what it took to the writer, as a full socket does.
type directConn struct {
	s *hub.Session

	mu      sync.Mutex
	writing bool
	ended   bool
	held    [][]byte
	wrote   []string // what reached the "socket", in order
	claims  int
	directs int
	writers sync.WaitGroup
}

var _ hub.Direct = (*directConn)(nil)

func (c *directConn) Claim() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing || c.ended || c.s == nil || c.s.Queued() {
		return false
	}
	c.writing = true
	c.claims++
	return true
}

func (c *directConn) WriteNow(it hub.Item) {
	b := it.Bytes
	items := c.s.Take(nil)
	c.mu.Lock()
	c.directs++
	c.wrote = append(c.wrote, string(b))
	if c.directs%3 == 0 {
		for _, it := range items {
			c.held = append(c.held, it.Bytes)
		}
	} else {
		for _, it := range items {
			c.wrote = append(c.wrote, string(it.Bytes))
		}
	}
	if len(c.held) > 0 || c.s.Queued() {
		c.writers.Add(1)
		go c.write()
	} else {
		c.writing = false
	}
	c.mu.Unlock()
}

// wake starts the writer unless one runs or a direct write holds the
// connection: that one starts it when it is done.
func (c *directConn) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing || c.ended || c.s == nil {
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.write()
}

func (c *directConn) write() {
	defer c.writers.Done()
	for {
		items := c.s.Take(nil)
		c.mu.Lock()
		for _, b := range c.held {
			c.wrote = append(c.wrote, string(b))
		}
		c.held = nil
		for _, it := range items {
			c.wrote = append(c.wrote, string(it.Bytes))
		}
		if !c.s.Queued() {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// TestDirectWritesKeepOrder publishes from several goroutines to sessions
// that take direct writes: fan-out claims the idle ones and writes to them
// from the channel's pass, and what arrives meanwhile queues behind the
// claim. Every session must see every offset once, in order, and the direct
// path must have been taken.
func TestDirectWritesKeepOrder(t *testing.T) {
	const (
		publishers = 4
		each       = 250
		total      = publishers * each
	)
	h := transporttest.RunHub(t, hub.Config{QueueLimit: 64 << 20})
	conns := make([]*directConn, 8)
	for i := range conns {
		c := &directConn{}
		s, err := h.NewSession(hub.SessionOptions{Transport: "test", Encoder: &testEncoder{}, Wake: c.wake, Direct: c})
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.s = s
		c.mu.Unlock()
		t.Cleanup(func() {
			s.Close()
			c.writers.Wait()
		})
		if _, err := s.Subscribe(context.Background(), "chat:direct", hub.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := h.Publish(context.Background(), stream.PublishRequest{Channel: "chat:direct", Data: []byte(`{}`)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range conns {
		testkit.Eventually(t, "every publication written to session "+strconv.Itoa(i), func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.wrote) >= total && !c.writing
		})
		c.mu.Lock()
		wrote, directs := c.wrote, c.directs
		c.mu.Unlock()
		for j, b := range wrote {
			if want := strconv.Itoa(j + 1); b != want {
				t.Fatalf("session %d: write %d is %q, want %s (after %q)", i, j, b, want, wrote[max(0, j-3):j])
			}
		}
		if directs == 0 {
			t.Errorf("session %d: no direct write in %d publications", i, total)
		}
	}
}

package client_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// dialLog is an Options.Dial that counts dials and keeps every socket.
type dialLog struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *dialLog) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// cut closes every socket dialed so far, as a network failure would.
func (d *dialLog) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// waitMore waits until more than n sockets were dialed.
func (d *dialLog) waitMore(t *testing.T, n int) {
	t.Helper()
	testkit.EventuallyNil(t, testkit.Wait, fmt.Sprintf("more than %d dials", n), func() error {
		if got := d.count(); got <= n {
			return fmt.Errorf("%d dials", got)
		}
		return nil
	})
}

// TestDial: every transport opens its sockets through Options.Dial, and a
// client whose sockets are cut under it dials again and resumes.
func TestDial(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr client.Transport) {
		n := newNode(t)
		d := &dialLog{}
		c := n.newClient(t, client.Options{Transports: []client.Transport{tr}, Dial: d.dial})
		sub, _ := c.Subscribe("chat:dial", client.SubscribeOptions{})
		c.run(t)
		subscribed(t, sub)
		for i := 1; i <= 3; i++ {
			n.publish(t, "chat:dial", fmt.Sprint(i))
		}
		expectOffsets(t, sub, 1, 3)
		before := d.count()
		if before == 0 {
			t.Fatalf("no dial went through Options.Dial over %s", tr)
		}
		d.cut()
		for i := 4; i <= 6; i++ {
			n.publish(t, "chat:dial", fmt.Sprint(i))
		}
		d.waitMore(t, before)
		expectOffsets(t, sub, 4, 6)
	})
}

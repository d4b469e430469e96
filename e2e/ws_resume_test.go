package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// TestWebSocketResumeUnderDrops is the delivery guarantee seen from outside:
// 100 WebSocket clients follow one channel while 1,000 publications go
// through the HTTP API, and each client drops its connection at random
// moments and resubscribes with the position it had. Every client must end
// with every offset exactly once, in order.
func TestWebSocketResumeUnderDrops(t *testing.T) {
	const (
		clients = 100
		total   = 1000
		channel = "e2e.resume"
	)
	n := startNode(t, "--default-namespace.history-size", "5000")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var wg, ready sync.WaitGroup
	ready.Add(clients)
	results := make([]clientResult, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(ready.Done)
			defer once()
			results[i] = followWithDrops(ctx, n.WS, channel, total, once, rand.New(rand.NewPCG(uint64(i), 99)))
		}()
	}
	ready.Wait() // every client is subscribed before the first publication

	pubErr := make(chan error, 1)
	go func() {
		// A steady pace, so drops land throughout the run.
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= total; i++ {
			<-tick.C
			if _, err := n.publish(ctx, channel, map[string]int{"i": i}); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()
	if err := <-pubErr; err != nil {
		t.Fatalf("publish: %v", err)
	}
	wg.Wait()

	drops := 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("client %d: %v", i, r.err)
			continue
		}
		drops += r.drops
		if len(r.offsets) != total {
			t.Errorf("client %d received %d publications, want %d", i, len(r.offsets), total)
			continue
		}
		for j, off := range r.offsets {
			if off != uint64(j+1) {
				t.Errorf("client %d: publication %d has offset %d", i, j, off)
				break
			}
		}
	}
	if drops < clients {
		t.Errorf("only %d drops across %d clients: the run did not exercise resume", drops, clients)
	}
	t.Logf("%d clients, %d publications, %d drops and resumes", clients, total, drops)
}

type clientResult struct {
	offsets []uint64
	drops   int
	err     error
}

// followWithDrops follows channel until it has offset total, cutting its
// connection after a random number of publications or a random time.
func followWithDrops(ctx context.Context, wsURL, channel string, total uint64, subscribed func(), rng *rand.Rand) clientResult {
	var res clientResult
	var pos *stream.Position
	for {
		if err := ctx.Err(); err != nil {
			res.err = fmt.Errorf("after %d publications: %w", len(res.offsets), err)
			return res
		}
		c, _, err := wsclient.Dial(ctx, wsURL, wsclient.Options{})
		if err != nil {
			res.err = err
			return res
		}
		latest, recovered, err := subscribe(c, channel, pos)
		if err != nil {
			c.Close()
			res.err = err
			return res
		}
		if pos == nil {
			pos = &latest
			subscribed()
		} else if !recovered {
			c.Close()
			res.err = fmt.Errorf("resume from %d not recovered", pos.Offset)
			return res
		}
		// Cut after a random count, or at a random moment, whichever first.
		budget := 20 + rng.IntN(300)
		timer := time.AfterFunc(time.Duration(rng.IntN(400))*time.Millisecond, func() { c.Close() })
		err = readUntil(c, pos, total, budget, &res.offsets)
		timer.Stop()
		c.Close()
		switch {
		case pos.Offset >= total:
			return res
		case err != nil && !errors.Is(err, errBudget) && !isClosed(err):
			res.err = err
			return res
		}
		res.drops++
	}
}

var errBudget = errors.New("budget spent")

// isClosed reports whether err is our own cut: the socket closed under the
// reader. Anything else — a close frame from the server, a bad frame, a gap
// or a duplicate — fails the client.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}

// subscribe sends connect and subscribe (with since when pos is set) and
// returns the subscribe reply's position and recovered flag.
func subscribe(c *wsclient.Conn, channel string, pos *stream.Position) (stream.Position, bool, error) {
	_ = c.NetConn().SetDeadline(time.Now().Add(20 * time.Second))
	defer c.NetConn().SetDeadline(time.Time{})
	for _, cmd := range []protocol.Command{
		{Type: "connect", ID: 1},
		{Type: "subscribe", ID: 2, Channel: channel, Since: pos},
	} {
		if err := c.WriteText(protocol.AppendCommand(nil, cmd)); err != nil {
			return stream.Position{}, false, err
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return stream.Position{}, false, err
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil {
				return stream.Position{}, false, err
			}
			if f.ID != cmd.ID {
				if f.Type == "message" {
					return stream.Position{}, false, fmt.Errorf("message before the %s reply", cmd.Type)
				}
				continue
			}
			if f.Error != nil {
				return stream.Position{}, false, fmt.Errorf("%s: %v", cmd.Type, f.Error)
			}
			if cmd.Type == "subscribe" {
				return stream.Position{Epoch: f.Epoch, Offset: f.Offset}, f.Recovered, nil
			}
			break
		}
	}
	panic("unreachable")
}

// readUntil reads publications, checking each is the next offset, until
// total is reached, budget publications were read, or the connection ends.
func readUntil(c *wsclient.Conn, pos *stream.Position, total uint64, budget int, got *[]uint64) error {
	for pos.Offset < total {
		_ = c.NetConn().SetReadDeadline(time.Now().Add(20 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			return err
		}
		switch f.Type {
		case "ping":
			_ = c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: "pong"}))
			continue
		case "message":
		default:
			return fmt.Errorf("unexpected frame %s", b)
		}
		if f.Epoch != pos.Epoch || f.Offset != pos.Offset+1 {
			return fmt.Errorf("after offset %d got %s/%d: a gap or a duplicate", pos.Offset, f.Epoch, f.Offset)
		}
		pos.Offset = f.Offset
		*got = append(*got, f.Offset)
		if budget--; budget == 0 {
			return errBudget
		}
	}
	return nil
}

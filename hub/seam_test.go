package hub_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testkit/transporttest"
	"github.com/switchboardhq/switchboard/stream"
)

// TestResumeSeam publishes continuously while many clients subscribe, drop
// and resubscribe with their position at random moments. Every client must
// see every offset after its first position exactly once, in order: no gap
// and no duplicate where history meets live delivery.
func TestResumeSeam(t *testing.T) {
	for round := 0; round < 3; round++ {
		t.Run("round"+strconv.Itoa(round), testResumeSeam)
	}
}

func testResumeSeam(t *testing.T) {
	const (
		total   = 3000
		clients = 40
		channel = "seam"
	)
	ns, err := stream.NewNamespaces(stream.Namespace{HistorySize: total}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := transporttest.RunHub(t, hub.Config{Namespaces: ns})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Every client starts at offset 0 of the channel's epoch, so it must see
	// the whole channel; publishing starts once all have subscribed, so the
	// publisher always races their drops and resumes.
	page, err := h.History(ctx, channel, stream.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	start := stream.Position{Epoch: page.Latest.Epoch}

	var wg, subscribed sync.WaitGroup
	subscribed.Add(clients)
	errs := make(chan error, clients+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		subscribed.Wait()
		for i := 1; i <= total; i++ {
			if _, err := h.Publish(ctx, stream.PublishRequest{Channel: channel, Data: []byte(strconv.Itoa(i))}); err != nil {
				errs <- err
				return
			}
		}
	}()
	enc := &testEncoder{}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			// A client that fails early must not leave the publisher waiting.
			ready := sync.OnceFunc(subscribed.Done)
			defer ready()
			if err := resumingClient(ctx, h, enc, channel, start, total, ready, rand.New(rand.NewPCG(seed, 7))); err != nil {
				errs <- err
			}
		}(uint64(c))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.Stats(); st.Replayed == 0 {
		t.Error("no publication was replayed from history: the test did not exercise resume")
	}
}

// resumingClient follows a channel until it has seen offset total,
// reconnecting with its position after a random number of publications.
func resumingClient(ctx context.Context, h *hub.Hub, enc hub.Encoder, channel string, start stream.Position, total uint64, subscribed func(), rng *rand.Rand) error {
	pos := &start
	for {
		s, err := h.NewSession(hub.SessionOptions{Transport: "test", Encoder: enc})
		if err != nil {
			return err
		}
		res, err := s.Subscribe(ctx, channel, hub.SubscribeOptions{Since: pos})
		if err != nil {
			s.Close()
			return err
		}
		if subscribed != nil {
			subscribed()
			subscribed = nil
		}
		if !res.Recovered {
			s.Close()
			return errors.New("resume not recovered")
		}
		budget := 1 + rng.IntN(300)
		var items []hub.Item
	read:
		for budget > 0 && pos.Offset < total {
			select {
			case <-s.Ready():
			case <-s.Done():
				s.Close()
				return s.Cause()
			case <-ctx.Done():
				s.Close()
				return ctx.Err()
			}
			items = s.Take(items)
			for _, it := range items {
				if it.Pub == nil {
					continue
				}
				if it.Pub.Epoch != pos.Epoch || it.Pub.Offset != pos.Offset+1 {
					s.Close()
					return errors.New("after " + strconv.FormatUint(pos.Offset, 10) + " got " + strconv.FormatUint(it.Pub.Offset, 10))
				}
				pos.Offset++
				budget--
				if budget == 0 {
					// Drop the connection mid-batch: what was queued but
					// not yet seen must come back on resume.
					break read
				}
			}
		}
		s.Close()
		if pos.Offset >= total {
			return nil
		}
	}
}

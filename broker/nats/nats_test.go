package nats_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Broker = (*nats.Broker)(nil)

// Every broker and every embedded server is closed by its test. Both take a
// moment to let their last goroutines go, so TestMain waits a little for
// them before it reports.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
				code = 1
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Exit(code)
}

func TestBroker(t *testing.T) {
	srv := testenv.NATS(t)
	brokertest.Run(t, func(t *testing.T) hub.Broker {
		return newBroker(t, srv, nats.Config{})
	})
}

// newBroker connects a broker to srv and closes it when the test ends.
func newBroker(t testing.TB, srv *testenv.NATSServer, cfg nats.Config) *nats.Broker {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = srv.URL()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := nats.New(ctx, cfg)
	if err != nil {
		t.Fatalf("nats.New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// testWriter sends a broker's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// recorder keeps what Run delivered, per channel.
type recorder struct {
	mu  sync.Mutex
	got map[string][]*stream.Publication
}

func (r *recorder) deliver(p *stream.Publication) {
	r.mu.Lock()
	if r.got == nil {
		r.got = make(map[string][]*stream.Publication)
	}
	r.got[p.Channel] = append(r.got[p.Channel], p)
	r.mu.Unlock()
}

func (r *recorder) get(ch string) []*stream.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[ch])
}

// run starts b.Run and stops it, and waits for it, when the test ends.
func run(t testing.TB, b *nats.Broker) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, r.deliver) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return r
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

func req(ch, data string) stream.PublishRequest {
	return stream.PublishRequest{Channel: ch, Data: []byte(data), HistorySize: 10000, HistoryTTL: time.Hour}
}

// checkSequence fails unless pubs hold exactly offsets 1..n of one epoch,
// in order.
func checkSequence(t testing.TB, what string, pubs []*stream.Publication, n int) {
	t.Helper()
	if len(pubs) != n {
		t.Fatalf("%s: %d publications, want %d", what, len(pubs), n)
	}
	for i, p := range pubs {
		if p.Offset != uint64(i+1) || p.Epoch != pubs[0].Epoch {
			t.Fatalf("%s: publication %d is offset %d epoch %q, want offset %d epoch %q",
				what, i, p.Offset, p.Epoch, i+1, pubs[0].Epoch)
		}
	}
}

func TestConfigFromURL(t *testing.T) {
	srv := testenv.NATS(t)
	ctx := t.Context()
	for _, bad := range []string{
		srv.URL() + "?replicas=0",
		srv.URL() + "?storage=disk",
		srv.URL() + "?idle_ttl=-1s",
		srv.URL() + "?unknown=1",
		srv.URL() + "?prefix=a..b",
		srv.URL() + "?stream=a.b",
	} {
		if b, err := nats.New(ctx, nats.Config{URL: bad}); err == nil {
			b.Close()
			t.Errorf("New(%q) accepted it", bad)
		}
	}
	b := newBroker(t, srv, nats.Config{URL: srv.URL() + "?stream=OTHER&prefix=other.sb&storage=memory&idle_ttl=1h"})
	res, err := b.Publish(ctx, req("chat:x", `1`))
	if err != nil || res.Offset != 1 {
		t.Fatalf("publish on a broker configured by URL: %+v, %v", res, err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := testenv.NATS(t)
	url := srv.URL()
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := nats.New(ctx, nats.Config{URL: url})
	if err == nil {
		b.Close()
		t.Fatal("New succeeded with NATS down")
	}
	if !strings.Contains(err.Error(), stream.ErrUnavailable.Error()) {
		t.Errorf("New: %v, want one wrapping ErrUnavailable", err)
	}
}

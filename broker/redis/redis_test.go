package redis_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Broker = (*redis.Broker)(nil)

// Every broker is closed by its test, and with it every connection and
// goroutine of the Redis client, so nothing is ignored. goleak's own
// patience (well under a second) is not enough, though: when a connection
// closes, rueidis schedules a cluster-topology refresh at a random moment
// within the next second, and that goroutine ends only after it has run.
// TestMain waits that long for every goroutine to end before it reports.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(3 * time.Second)
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
	srv := testenv.Redis(t)
	brokertest.Run(t, func(t *testing.T) hub.Broker {
		return newBroker(t, srv, redis.Config{})
	})
}

// newBroker connects a broker to srv and closes it when the test ends.
// Unless cfg names one, each broker gets a prefix of its own.
func newBroker(t testing.TB, srv *testenv.RedisServer, cfg redis.Config) *redis.Broker {
	t.Helper()
	if cfg.URL == "" && cfg.Addrs == nil && cfg.Options == nil {
		cfg.URL = srv.URL()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redis.New(ctx, cfg)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// testWriter sends a broker's log to the test's log, where it shows with
// -v or when the test fails.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
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

// run starts b.Run and stops it, and waits for it, when the test ends. It
// returns once b is delivering.
func run(t testing.TB, b *redis.Broker) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, r.deliver) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	eventually(t, "Run to connect", b.Healthy)
	return r
}

const waitFor = 20 * time.Second

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", waitFor, what)
		}
		<-tick.C
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// req is a publish request to ch with generous history.
func req(ch string, data string) stream.PublishRequest {
	return stream.PublishRequest{
		Channel:     ch,
		Data:        json.RawMessage(data),
		HistorySize: 10000,
		HistoryTTL:  time.Hour,
	}
}

func publish(t *testing.T, b *redis.Broker, r stream.PublishRequest) stream.PublishResult {
	t.Helper()
	res, err := b.Publish(context.Background(), r)
	if err != nil {
		t.Fatalf("Publish(%q): %v", r.Channel, err)
	}
	return res
}

func history(t *testing.T, b *redis.Broker, ch string, q stream.HistoryQuery) stream.HistoryPage {
	t.Helper()
	page, err := b.History(context.Background(), ch, q)
	if err != nil {
		t.Fatalf("History(%q): %v", ch, err)
	}
	return page
}

var all = stream.HistoryQuery{Limit: -1}

func offsets(pubs []*stream.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

// span returns from..to.
func span(from, to uint64) []uint64 {
	var out []uint64
	for o := from; o <= to; o++ {
		out = append(out, o)
	}
	return out
}

// checkOnceInOrder checks that pubs are exactly the offsets want, in one
// epoch.
func checkOnceInOrder(t *testing.T, what string, pubs []*stream.Publication, want []uint64) {
	t.Helper()
	if got := offsets(pubs); !slices.Equal(got, want) {
		t.Fatalf("%s: delivered %d publications %s; want %d, %s", what, len(got), summary(got), len(want), summary(want))
	}
	for _, p := range pubs {
		if p.Epoch != pubs[0].Epoch {
			t.Fatalf("%s: offset %d in epoch %q, the first in %q", what, p.Offset, p.Epoch, pubs[0].Epoch)
		}
	}
}

// summary shows a long list of offsets by its runs: "1-40 42-90".
func summary(o []uint64) string {
	if len(o) == 0 {
		return "[]"
	}
	s, start := "", o[0]
	for i := 1; i <= len(o); i++ {
		if i < len(o) && o[i] == o[i-1]+1 {
			continue
		}
		if s != "" {
			s += " "
		}
		if start == o[i-1] {
			s += fmt.Sprint(start)
		} else {
			s += fmt.Sprintf("%d-%d", start, o[i-1])
		}
		if i < len(o) {
			start = o[i]
		}
	}
	return s
}

func TestNewRejectsBadConfig(t *testing.T) {
	srv := testenv.Redis(t)
	ctx := context.Background()
	for _, cfg := range []redis.Config{
		{URL: srv.URL(), Addrs: []string{srv.Addr()}},
		{URL: "http://" + srv.Addr()},
		{URL: srv.URL(), Prefix: "a{b"},
	} {
		if b, err := redis.New(ctx, cfg); err == nil {
			b.Close()
			t.Errorf("New(%+v) accepted the configuration", cfg)
		}
	}
	// Nothing listening: New says so, as unavailable.
	down := testenv.Redis(t)
	down.Kill()
	if b, err := redis.New(ctx, redis.Config{Addrs: []string{down.Addr()}}); !errors.Is(err, stream.ErrUnavailable) {
		if b != nil {
			b.Close()
		}
		t.Errorf("New with nothing listening: %v, want stream.ErrUnavailable", err)
	}
}

package e2e_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// abuseLong runs the attacks at the sizes issue 11 reported them with
// (1,000 × 60 KB publications, 60,000-character keys, ...), instead of the
// small sizes that keep the suite quick while still failing a node that
// holds what a client makes it hold.
var abuseLong = flag.Bool("long", false, "run the abuse tests at the full sizes of issue 11")

// abuseSecret signs the abuse tests' tokens.
const abuseSecret = "e2e-abuse-secret-of-enough-bytes-for-hs256"

// abuseQueueBytes is limits.queue_bytes on the attacked nodes: small, so a
// node that counts every byte it queues holds little, and one that does not
// shows it with small attacks.
const abuseQueueBytes = 256 << 10

// abuseConfig is the attacked node's configuration: debug endpoints for the
// heap figures, a token secret, the queue budget above, and namespaces
// where anyone may publish (chat, as on a default node) and a canary
// namespace only the API publishes to.
const abuseConfig = `debug_endpoints: true
shutdown_drain: 200ms
token:
  hmac_secrets: ["` + abuseSecret + `"]
limits:
  queue_bytes: 262144
namespaces:
  - name: chat
    publish: anyone
  - name: canary
`

// abuseSizes are an attack's sizes: the quick ones by default, the issue's
// with -long.
type abuseSizes struct {
	history     int // publications in the channel the replay attacks read
	payload     int // bytes of each of them
	attackers   int // concurrent attacking clients
	keyLen      int // characters of each idempotency key
	keyRequests int // publishes with such keys
	frames      int // frames a flooding client sends at most
}

func sizes() abuseSizes {
	if *abuseLong {
		return abuseSizes{history: 1000, payload: 60_000, attackers: 10, keyLen: 60_000, keyRequests: 15_000, frames: 2_000_000}
	}
	return abuseSizes{history: 300, payload: 32_000, attackers: 6, keyLen: 60_000, keyRequests: 400, frames: 100_000}
}

// abuseCase is one attack of issue 11 against a real node.
type abuseCase struct {
	name string
	// args are added to `switchboard serve` (after the config file).
	args []string
	// wrap, when set, runs the node under a shell preamble (e.g. "ulimit -n
	// 256"), to give it a process limit.
	wrap string
	// prepare readies the node before the canary's quiet figure is taken,
	// e.g. fills the history the attack then asks for.
	prepare func(t *testing.T, a *attack)
	// run is the attack. It holds what it makes the node hold until it has
	// called a.hold, which takes the heap figure, and then checks what the
	// attacker was told (the code, the status, the close).
	run func(t *testing.T, a *attack)
	// heapBound is how much the node's heap after a GC may grow while the
	// attack is held, over its figure before; heapFor, when set, computes
	// it from the sizes instead.
	heapBound uint64
	heapFor   func(abuseSizes) uint64
}

// attack is what an attack works with.
type attack struct {
	n      *node
	sizes  abuseSizes
	ctx    context.Context
	base   uint64 // heap in use after a GC, before the attack
	peak   uint64 // the highest figure a.hold saw
	epoch  string // the epoch of the prepared history, if any
	held   bool
	holdOn time.Duration
	bound  uint64 // the case's heapBound
}

// hold samples the node's heap after a GC for a while — the attack being
// held meanwhile — and checks the highest figure against the bound.
func (a *attack) hold(t *testing.T) {
	t.Helper()
	a.held = true
	defer a.judge(t)
	end := time.Now().Add(a.holdOn)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		h, err := a.n.heap(a.ctx)
		if err != nil {
			t.Fatalf("node did not answer /debug/gc under attack: %v\n%s", err, a.n.logs.Tail(2000))
		}
		a.peak = max(a.peak, h)
		if time.Now().After(end) {
			return
		}
		select {
		case <-tick.C:
		case <-a.ctx.Done():
			t.Fatal(a.ctx.Err())
		}
	}
}

// judge checks the heap's growth under the attack against the bound.
func (a *attack) judge(t *testing.T) {
	t.Helper()
	grew := int64(a.peak) - int64(a.base)
	t.Logf("heap in use after GC: %s before, %s at the attack's peak (%+.1f MiB); bound %s",
		mib(a.base), mib(a.peak), float64(grew)/(1<<20), mib(a.bound))
	if grew > int64(a.bound) {
		t.Errorf("the node's heap grew by %s under the attack, over the bound of %s", mib(uint64(grew)), mib(a.bound))
	}
}

// TestAbuse runs every attack of issue 11 against a node of its own, with a
// canary subscriber on the same node: the node's heap stays within the
// attack's bound, the attacker gets its code, and the canary receives every
// publication, in order, with its latency within canaryFactor of its quiet
// figure.
func TestAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("abuse tests start many nodes")
	}
	for _, c := range abuseCases() {
		t.Run(c.name, func(t *testing.T) {
			if !*abuseLong {
				t.Parallel() // each on a node of its own; -long runs one at a time
			}
			runAbuse(t, c)
		})
	}
}

func runAbuse(t *testing.T, c abuseCase) {
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(abuseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary
	if c.wrap != "" {
		bin = filepath.Join(t.TempDir(), "switchboard-wrapped")
		script := "#!/bin/sh\n" + c.wrap + "\nexec " + binary + ` "$@"` + "\n"
		if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	n := startNodeBinary(t, bin, append([]string{"--config", path}, c.args...)...)
	// Not t.Context(): that ends before the cleanups, and the canary's last
	// check runs in one, its publisher still finishing a publication.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	a := &attack{n: n, sizes: sizes(), ctx: ctx, holdOn: 2 * time.Second, bound: c.heapBound}
	if c.heapFor != nil {
		a.bound = c.heapFor(a.sizes)
	}
	if c.prepare != nil {
		c.prepare(t, a)
	}
	can := startCanary(t, ctx, n)
	can.quiet(t)
	base, err := n.heap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.base, a.peak = base, base
	t.Cleanup(func() { can.finish(t) })
	c.run(t, a)
	if !a.held {
		a.hold(t)
	}
}

// heap asks the node for a garbage collection and returns its heap in use.
func (n *node) heap(ctx context.Context) (uint64, error) {
	var st map[string]uint64
	if err := n.api(ctx, http.MethodPost, "/debug/gc", nil, &st); err != nil {
		return 0, err
	}
	return st["heap_inuse"], nil
}

// pid is the node's process id.
func (n *node) pid() int { return n.cmd.Process.Pid }

// fds counts the node's open file descriptors.
func (n *node) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.pid()))
	if err != nil {
		return -1
	}
	return len(ents)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// errorBody is a coded error answer of the node.
type errorBody struct {
	Error *struct {
		Code    uint32 `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// codeOf reads the code and message of a coded error body ("" if it is
// none).
func codeOf(body []byte) (uint32, string) {
	var e errorBody
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return 0, ""
	}
	return e.Error.Code, e.Error.Message
}

// trimmed shortens a body for a failure message.
func trimmed(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return strings.ToValidUTF8(s, "?")
}

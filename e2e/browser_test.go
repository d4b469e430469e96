package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// TestBrowserSSEResume is the SSE promise in a real browser: a plain
// EventSource on the lab page (web/static/lab-sse.html), with no SDK, loses
// its network in the middle of a steady stream of publications, fails to
// reconnect once while the network is still down, then comes back by
// itself with Last-Event-ID — and the page ends with every offset exactly
// once, in order.
//
// Everything the page loads goes through a testenv.Proxy, which the test
// uses to cut the connection and to refuse the browser's first reconnect.
// The node's retry: line asks for 2–4s and the browser waits that long
// twice, so the test takes about fifteen seconds.
func TestBrowserSSEResume(t *testing.T) {
	const (
		channel = "lab:browser"
		pace    = 25 * time.Millisecond
		// cutAt publications go out before the cut; at least minTotal
		// in all; and tail more after the page reconnects, so that
		// publishing goes on across the seam between the replay and the
		// live stream.
		cutAt    = 60
		minTotal = 200
		tail     = 40
		// maxTotal stays under the lab namespace's history (1,000
		// publications): a browser that never comes back fails here
		// instead of resuming into a gap.
		maxTotal = 800
	)
	chromium := testenv.Chromium(t)
	node := testenv.Node(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	testenv.NPMPackage(t, root, "playwright-core")

	n := startNode(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(n.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	page := "http://" + proxy.Addr() + "/lab-sse.html?channel=" + channel
	b := startBrowserScript(ctx, t, node, root, "sse_resume.mjs", page, "--chromium", chromium)

	// The stream is open before the first publication: a first connection
	// starts at the channel's latest position and replays nothing.
	first := b.next(t, "connected", time.Minute)
	if !strings.Contains(string(first.Channels), `"`+channel+`"`) {
		t.Fatalf("the first connected event is for %s, want %s", first.Channels, channel)
	}

	total := 0
	publish := func() {
		t.Helper()
		total++
		if _, err := n.publish(ctx, channel, map[string]int{"n": total}); err != nil {
			t.Fatalf("publish %d: %v", total, err)
		}
		if total >= maxTotal {
			t.Fatalf("the page was not back within %d publications of the cut", total-cutAt)
		}
	}
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for total < cutAt {
		<-tick.C
		publish()
	}

	// Drop the network, and keep it down until the browser's first attempt
	// to come back has been refused: EventSource must keep trying after a
	// failed reconnect, not only after the drop.
	proxy.SetBlocked(true)
	if proxy.CutAll() == 0 {
		t.Fatal("CutAll found no connection to cut: the page is not streaming through the proxy")
	}
	t.Logf("network cut after offset %d", total)
	// The page's first error event is the drop, its second the refused
	// attempt. Waiting for the page rather than for the proxy's count keeps
	// a connection the browser opens for some other reason from ending the
	// outage early.
	for errs := 0; errs < 2; {
		<-tick.C
		publish()
		if ev, ok := b.poll(t, "error"); ok {
			errs = ev.Count
		}
	}
	if proxy.Refused() == 0 {
		t.Fatal("the page saw its reconnect fail, but the proxy refused no connection")
	}
	proxy.SetBlocked(false)
	t.Logf("a reconnect was refused by offset %d; network back", total)

	// Publish on until the page is connected again, then a tail.
	reconnectedAt := 0
	for reconnectedAt == 0 || total < max(minTotal, reconnectedAt+tail) {
		<-tick.C
		publish()
		if reconnectedAt == 0 {
			if ev, ok := b.poll(t, "connected"); ok {
				reconnectedAt = total
				t.Logf("the page reconnected by offset %d: %s", total, ev.Channels)
			}
		}
	}
	tick.Stop()

	res := b.finish(t, total)
	t.Logf("screenshot: %s", res.Screenshot)
	checkBrowserSSE(t, res, channel, total)
}

// checkBrowserSSE checks what the page received: offsets 1..total, each once
// and in order, from one epoch, over at least two connections, every
// reconnect resumed.
func checkBrowserSSE(t *testing.T, res browserResult, channel string, total int) {
	t.Helper()
	if res.TimedOut {
		t.Errorf("the page held %d publications of %d when the script stopped waiting (stalled or out of time)", len(res.Offsets), total)
	}
	if res.Expect != total {
		t.Errorf("the script waited for %d publications, want %d", res.Expect, total)
	}
	if want := []string{channel}; !slices.Equal(res.Channels, want) {
		t.Errorf("publications from channels %q, want %q", res.Channels, want)
	}
	if len(res.Epochs) != 1 {
		t.Errorf("publications from epochs %q, want one", res.Epochs)
	}
	if bad := offsetProblems(res.Offsets, total); bad != "" {
		t.Errorf("the page did not receive offsets 1..%d once each, in order: %s", total, bad)
	}
	// Two errors at least: the drop, then the refused reconnect.
	if res.Counts.Connected < 2 || res.Counts.Error < 2 {
		t.Errorf("connected %d times with %d errors; want a reconnect (2+) after a drop and a refused attempt (2+ errors)",
			res.Counts.Connected, res.Counts.Error)
	}
	for i, c := range res.Connections {
		if st, ok := c.Channels[channel]; !ok || !st.Recovered {
			t.Errorf("connected event %d: %s is %+v, want recovered", i+1, channel, st)
		}
	}
	if len(res.PageErrors) > 0 {
		t.Errorf("the page threw: %q", res.PageErrors)
	}
	if _, err := os.Stat(res.Screenshot); err != nil {
		t.Errorf("screenshot: %v", err)
	}
}

// offsetProblems describes how offsets differs from 1..total, or returns "".
func offsetProblems(offsets []uint64, total int) string {
	var bad []string
	seen := make(map[uint64]int, len(offsets))
	for i, off := range offsets {
		seen[off]++
		if off != uint64(i+1) && len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("#%d is offset %d", i+1, off))
		}
	}
	var missing, twice int
	for off := uint64(1); off <= uint64(total); off++ {
		switch seen[off] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if len(bad) == 0 && len(offsets) == total {
		return ""
	}
	return fmt.Sprintf("%d received, %d missing, %d more than once; %s",
		len(offsets), missing, twice, strings.Join(bad, ", "))
}

// browserScript is one run of a program under e2e/browser: node drives
// Chromium and reports in JSON lines on stdout (see sse_resume.mjs).
type browserScript struct {
	*nodeScript
}

// browserEvent is one line of a script's report.
type browserEvent struct {
	Type     string          `json:"type"`
	Count    int             `json:"count"`
	Channels json.RawMessage `json:"channels"`
}

// browserResult is the report's last line.
type browserResult struct {
	Expect      int        `json:"expect"`
	TimedOut    bool       `json:"timedOut"`
	Offsets     []uint64   `json:"offsets"`
	Channels    []string   `json:"channels"`
	Epochs      []string   `json:"epochs"`
	Counts      pageCounts `json:"counts"`
	Connections []struct {
		Client   string `json:"client"`
		Channels map[string]struct {
			Epoch     string `json:"epoch"`
			Offset    uint64 `json:"offset"`
			Recovered bool   `json:"recovered"`
		} `json:"channels"`
	} `json:"connections"`
	ConsoleErrors []string `json:"consoleErrors"`
	PageErrors    []string `json:"pageErrors"`
	Screenshot    string   `json:"screenshot"`
}

type pageCounts struct {
	Connected  int `json:"connected"`
	Error      int `json:"error"`
	Disconnect int `json:"disconnect"`
}

// startBrowserScript runs e2e/browser/<script> with node, from the
// repository root so that it finds playwright-core there, with screenshots
// going to test-artifacts/<test name>/. The script is stopped, and its
// stderr logged, when the test ends.
func startBrowserScript(ctx context.Context, t *testing.T, node, root, script string, args ...string) *browserScript {
	t.Helper()
	artifacts := filepath.Join(root, "test-artifacts", strings.ReplaceAll(t.Name(), "/", "_"))
	all := append([]string{filepath.Join("e2e", "browser", script)}, args...)
	all = append(all, "--artifacts", artifacts, "--name", filepath.Base(strings.TrimSuffix(script, ".mjs")))
	// The script answers and exits when its stdin ends.
	return &browserScript{startNodeScript(ctx, t, script, node, root, all...)}
}

// next waits up to d for a line of type typ, logging the others.
func (b *browserScript) next(t *testing.T, typ string, d time.Duration) browserEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				<-b.exited
				t.Fatalf("the browser script ended (%v) before a %q line\n%s", b.err, typ, b.stderr)
			}
			if ev, match := b.decode(t, line, typ); match {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q line from the browser script within %s\n%s", typ, d, b.stderr)
		}
	}
}

// poll returns a line of type typ if one has arrived, logging the others
// before it.
func (b *browserScript) poll(t *testing.T, typ string) (browserEvent, bool) {
	t.Helper()
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				<-b.exited
				t.Fatalf("the browser script ended (%v) before a %q line\n%s", b.err, typ, b.stderr)
			}
			if ev, match := b.decode(t, line, typ); match {
				return ev, true
			}
		default:
			return browserEvent{}, false
		}
	}
}

func (b *browserScript) decode(t *testing.T, line []byte, typ string) (browserEvent, bool) {
	t.Helper()
	var ev browserEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("browser script: %v in %q", err, line)
	}
	if ev.Type != typ {
		t.Logf("browser: %s", line)
		return ev, false
	}
	return ev, true
}

// finish tells the script how many publications to wait for and returns its
// result.
func (b *browserScript) finish(t *testing.T, expect int) browserResult {
	t.Helper()
	if _, err := fmt.Fprintf(b.stdin, "{\"expect\":%d}\n", expect); err != nil {
		t.Fatalf("telling the browser script to finish: %v\n%s", err, b.stderr)
	}
	var res browserResult
	for {
		line, ok := <-b.lines
		if !ok {
			<-b.exited
			t.Fatalf("the browser script ended (%v) without a result\n%s", b.err, b.stderr)
		}
		if ev, _ := b.decode(t, line, "result"); ev.Type == "result" {
			if err := json.Unmarshal(line, &res); err != nil {
				t.Fatalf("browser result: %v", err)
			}
			return res
		}
	}
}

package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// The demo pages and the browser SDK in headless Chromium: every page is
// the one `switchboard serve` ships, loading /sdk/switchboard.js from the
// node.

// TestBrowserChat: two people chat over WebSocket on the chat page, see
// each other online, and see the same messages in the same order.
func TestBrowserChat(t *testing.T) {
	n := startNode(t)
	b := startBrowser(t)
	page := n.URL + "/chat.html?room=e2e"
	alice := b.open("alice", page)
	bob := b.open("bob", page)
	for _, p := range []*browserPage{alice, bob} {
		p.wait("connected over WebSocket", `demo.sb.state === "connected" && demo.sb.transport === "websocket" &&
			document.getElementById("transport").textContent === "websocket"`, 30*time.Second)
	}
	// Presence is on in the chat namespace: each page lists both.
	for _, p := range []*browserPage{alice, bob} {
		p.wait("both online", `demo.online.size === 2 && document.getElementById("online-count").textContent === "2"`, 30*time.Second)
	}

	say := func(p *browserPage, name, text string) {
		t.Helper()
		p.fill(`#send input[name=name]`, name)
		p.fill(`#send input[name=text]`, text)
		p.press(`#send input[name=text]`, "Enter")
	}
	say(alice, "alice", "hello from alice")
	bob.wait("alice's message", `demo.messages.some(m => m.data.text === "hello from alice")`, 30*time.Second)
	say(bob, "bob", "hi alice")
	for _, p := range []*browserPage{alice, bob} {
		p.wait("both messages on screen", `document.querySelectorAll("#log li[data-offset]").length === 2`, 30*time.Second)
		var texts []string
		p.eval(`demo.messages.map(m => m.data.name + ": " + m.data.text)`, &texts)
		if want := []string{"alice: hello from alice", "bob: hi alice"}; strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("page %s shows %q, want %q", p.name, texts, want)
		}
		var offsets []int
		p.eval(`demo.messages.map(m => m.offset)`, &offsets)
		if len(offsets) != 2 || offsets[1] != offsets[0]+1 {
			t.Errorf("page %s has offsets %v, want two in a row", p.name, offsets)
		}
	}
	// The online list names people once they have spoken.
	alice.wait("bob named in the online list", `[...document.querySelectorAll("#online li")].some(li => li.textContent === "bob")`, 10*time.Second)
	alice.screenshot("chat-alice")
	bob.screenshot("chat-bob")

	// Bob leaves: Alice sees him go.
	b.call(30*time.Second, map[string]any{"op": "eval", "page": "bob", "js": "demo.sb.disconnect()"})
	alice.wait("bob's leave", `demo.online.size === 1`, 30*time.Second)
	alice.checkNoErrors()
	bob.checkNoErrors()
}

// TestBrowserFallback: behind a proxy that refuses WebSocket upgrades, the
// SDK falls back to SSE; when SSE is refused too and the stream is cut, to
// long polling — and the page holds every publication once, in order.
func TestBrowserFallback(t *testing.T) {
	const channel = "lab:fallback"
	n := startNode(t)
	b := startBrowser(t)
	proxy := newFilterProxy(t, n.URL)
	proxy.refuseWebSocket.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	lab := b.open("lab", proxy.URL+"/lab.html?rate=0&channel="+channel)
	lab.wait("on SSE after the refused WebSocket", `demo.sb.state === "connected" && demo.sb.transport === "sse"`, 45*time.Second)
	lab.wait("subscribed", `demo.events.some(e => e.text.startsWith("subscribed"))`, 30*time.Second)
	pub := &pacedPublisher{t: t, n: n, channel: channel}
	pub.publish(ctx, 30, 20*time.Millisecond)
	lab.wait("30 publications over SSE", `demo.received.length >= 30`, 30*time.Second)

	// Refuse SSE as well, and cut the stream the page is on: it must not
	// lose what is published while it finds its way to long polling.
	proxy.refuseSSE.Store(true)
	if proxy.cutAll() == 0 {
		t.Fatal("no connection to cut: the page is not streaming through the proxy")
	}
	pub.publish(ctx, 30, 20*time.Millisecond)
	lab.wait("on long polling", `demo.sb.state === "connected" && demo.sb.transport === "longpoll"`, 60*time.Second)
	pub.publish(ctx, 30, 20*time.Millisecond)
	lab.wait("every publication", fmt.Sprintf(`demo.received.length >= %d`, pub.total), 45*time.Second)

	checkLabPage(t, lab, channel, pub.total)
	var transports []string
	lab.eval(`demo.transports`, &transports)
	if len(transports) < 2 || transports[0] != "sse" || transports[len(transports)-1] != "longpoll" {
		t.Errorf("the page was connected over %q, want SSE first and long polling last", transports)
	}
	if proxy.upgradesRefused.Load() == 0 || proxy.sseRefused.Load() == 0 {
		t.Errorf("the proxy refused %d upgrades and %d SSE streams, want some of each", proxy.upgradesRefused.Load(), proxy.sseRefused.Load())
	}
	lab.screenshot("lab-fallback")
	lab.checkNoErrors()
}

// TestBrowserCutResume: the network between the page and the node is cut
// mid-stream and stays down for a while; the SDK reconnects by itself with
// backoff and the page ends with every publication once, in order.
func TestBrowserCutResume(t *testing.T) {
	const channel = "lab:cut"
	n := startNode(t)
	b := startBrowser(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(n.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	lab := b.open("lab", "http://"+proxy.Addr()+"/lab.html?rate=0&channel="+channel)
	lab.wait("connected over WebSocket", `demo.sb.state === "connected" && demo.sb.transport === "websocket"`, 30*time.Second)
	lab.wait("subscribed", `demo.events.some(e => e.text.startsWith("subscribed"))`, 30*time.Second)
	pub := &pacedPublisher{t: t, n: n, channel: channel}
	pub.publish(ctx, 50, 20*time.Millisecond)

	// Down: cut every connection and refuse new ones until the page has
	// tried, and failed, to come back a few times.
	var before int
	lab.eval(`demo.events.filter(e => e.text.startsWith("connecting")).length`, &before)
	proxy.SetBlocked(true)
	if proxy.CutAll() == 0 {
		t.Fatal("no connection to cut: the page is not connected through the proxy")
	}
	pub.publish(ctx, 20, 20*time.Millisecond)
	lab.wait("failed attempts", fmt.Sprintf(`demo.events.filter(e => e.text.startsWith("connecting")).length >= %d`, before+4), 60*time.Second)
	if proxy.Refused() == 0 {
		t.Fatal("the page saw its attempts fail, but the proxy refused none")
	}
	pub.publish(ctx, 20, 20*time.Millisecond)
	proxy.SetBlocked(false)

	lab.wait("back", `demo.reconnects >= 1 && demo.sb.state === "connected"`, 60*time.Second)
	pub.publish(ctx, 40, 20*time.Millisecond)
	lab.wait("every publication", fmt.Sprintf(`demo.received.length >= %d`, pub.total), 45*time.Second)
	checkLabPage(t, lab, channel, pub.total)

	// The waits between attempts are the SDK's backoff: each within the
	// page's cap (8s, plus the time a failing attempt takes), and not all
	// the same (full jitter).
	var waits []int
	lab.eval(`demo.events.map(e => e.text.match(/^connecting over \S+ after (\d+) ms$/)).filter(Boolean).map(m => Number(m[1]))`, &waits)
	if len(waits) < 2 {
		t.Fatalf("the page logged %d waits before reconnecting, want 2 or more", len(waits))
	}
	distinct := map[int]bool{}
	for _, w := range waits {
		if w < 0 || w > 8000+6000 {
			t.Errorf("waited %d ms before an attempt, want within the 8s cap", w)
		}
		distinct[w/50] = true
	}
	if len(distinct) < 2 {
		t.Errorf("every wait before an attempt was the same (%v): no jitter", waits)
	}
	t.Logf("waits before reconnect attempts (ms): %v", waits)
	lab.screenshot("lab-cut")
	lab.checkNoErrors()
}

// TestBrowserGap: the node restarts with its (memory) history gone; the
// page, resuming from a position the new node cannot replay, shows the gap
// and follows the channel on.
func TestBrowserGap(t *testing.T) {
	const channel = "lab:gap"
	n := startNode(t)
	b := startBrowser(t)
	addr := strings.TrimPrefix(n.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	lab := b.open("lab", n.URL+"/lab.html?rate=0&channel="+channel)
	lab.wait("subscribed", `demo.events.some(e => e.text.startsWith("subscribed"))`, 30*time.Second)
	pub := &pacedPublisher{t: t, n: n, channel: channel}
	pub.publish(ctx, 20, 10*time.Millisecond)
	lab.wait("20 publications", `demo.received.length >= 20`, 30*time.Second)

	n.stop()
	n2 := startNode(t, "--addr", addr)
	lab.wait("the gap", `demo.gaps.length === 1 && !document.getElementById("gap-banner").hidden`, 60*time.Second)
	pub2 := &pacedPublisher{t: t, n: n2, channel: channel}
	pub2.publish(ctx, 5, 10*time.Millisecond)
	lab.wait("the new node's publications", `demo.received.length >= 25`, 30*time.Second)

	var got []struct {
		Epoch  string `json:"epoch"`
		Offset int    `json:"offset"`
	}
	lab.eval(`demo.received`, &got)
	if len(got) != 25 {
		t.Fatalf("the page holds %d publications, want 20 from the first node and 5 from the second", len(got))
	}
	for i, p := range got {
		want := i + 1
		if i >= 20 {
			want = i - 19
		}
		if p.Offset != want {
			t.Errorf("publication %d has offset %d, want %d", i, p.Offset, want)
		}
	}
	if got[0].Epoch == got[20].Epoch {
		t.Errorf("both nodes' publications carry epoch %s, want a new epoch after the restart", got[0].Epoch)
	}
	lab.screenshot("lab-gap")
	lab.checkNoErrors()
}

// TestBrowserDemoPages opens every demo page, checks each does its job,
// and keeps a screenshot of each.
func TestBrowserDemoPages(t *testing.T) {
	n := startNode(t)
	b := startBrowser(t)

	index := b.open("index", n.URL+"/")
	index.wait("the index", `document.querySelector("a[href='chat.html']") !== null`, 10*time.Second)
	index.screenshot("index")

	dash := b.open("dashboard", n.URL+"/dashboard.html")
	dash.wait("the node's figures, steadily", `demo.updates >= 25 && demo.nodes.size === 1 &&
		document.querySelector(".node [data-k=sessions]").textContent !== ""`, 30*time.Second)
	dash.screenshot("dashboard")

	chat := b.open("chat", n.URL+"/chat.html")
	chat.wait("connected", `demo.sb.state === "connected" && demo.online.size >= 1`, 30*time.Second)
	chat.screenshot("chat")

	// The lab publishes to itself at 10/s: it counts what it receives, and
	// nothing missed or twice.
	lab := b.open("lab", n.URL+"/lab.html")
	lab.wait("its own stream", `demo.received.length >= 20`, 30*time.Second)
	lab.click("#cut")
	lab.wait("back after the cut", `demo.reconnects >= 1 && demo.received.length >= 40`, 60*time.Second)
	var counts struct{ Missed, Duplicated, Gaps int }
	lab.eval(`({missed: demo.missed, duplicated: demo.duplicated, gaps: demo.gaps.length})`, &counts)
	if counts != (struct{ Missed, Duplicated, Gaps int }{}) {
		var detail any
		lab.eval(`({missing: [...demo.published].filter(k => !demo.offsets.has(k)), last: demo.received.at(-1),
			received: demo.received.map(p => p.offset), events: demo.events.map(e => e.text)})`, &detail)
		t.Errorf("lab after a cut: %+v, want nothing missed, duplicated or lost\n%v", counts, detail)
	}
	lab.screenshot("lab")

	sse := b.open("lab-sse", n.URL+"/lab-sse.html?channel=lab:sse")
	sse.wait("connected", `window.counts && window.counts.connected >= 1`, 30*time.Second)
	sse.screenshot("lab-sse")

	for _, p := range []*browserPage{index, dash, chat, lab, sse} {
		p.checkNoErrors()
	}
}

// checkLabPage checks the lab page holds offsets 1..total of one epoch of
// channel, each once, in order, with no gap.
func checkLabPage(t *testing.T, lab *browserPage, channel string, total int) {
	t.Helper()
	var got struct {
		Offsets    []uint64 `json:"offsets"`
		Epochs     []string `json:"epochs"`
		Duplicated int      `json:"duplicated"`
		Gaps       int      `json:"gaps"`
		Channel    string   `json:"channel"`
	}
	lab.eval(`({offsets: demo.received.map(p => p.offset), epochs: [...new Set(demo.received.map(p => p.epoch))],
		duplicated: demo.duplicated, gaps: demo.gaps.length, channel: demo.channel})`, &got)
	if got.Channel != channel {
		t.Errorf("the page follows %s, want %s", got.Channel, channel)
	}
	if bad := offsetProblems(got.Offsets, total); bad != "" {
		t.Errorf("the page did not receive offsets 1..%d once each, in order: %s", total, bad)
	}
	if len(got.Epochs) != 1 || got.Duplicated != 0 || got.Gaps != 0 {
		t.Errorf("epochs %q, %d duplicated, %d gaps; want one epoch, none duplicated, no gap", got.Epochs, got.Duplicated, got.Gaps)
	}
}

// filterProxy is an HTTP reverse proxy in front of a node that can refuse
// WebSocket upgrades or SSE streams, as some corporate proxies do, and cut
// every connection through it.
type filterProxy struct {
	URL             string
	refuseWebSocket atomic.Bool
	refuseSSE       atomic.Bool
	upgradesRefused atomic.Int64
	sseRefused      atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newFilterProxy(t *testing.T, target string) *filterProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &filterProxy{conns: map[net.Conn]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ErrorLog = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p.refuseWebSocket.Load() && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				p.upgradesRefused.Add(1)
				http.Error(w, "upgrades are not allowed here", http.StatusForbidden)
				return
			}
			if p.refuseSSE.Load() && r.URL.Path == "/connection/sse" {
				p.sseRefused.Add(1)
				http.Error(w, "streams are not allowed here", http.StatusForbidden)
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch s {
			case http.StateNew:
				p.conns[c] = true
			case http.StateClosed, http.StateHijacked:
				delete(p.conns, c)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	p.URL = "http://" + ln.Addr().String()
	return p
}

// cutAll closes every client connection through the proxy and says how many.
func (p *filterProxy) cutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
	}
	return n
}

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// The SDK's share option in Chromium: tabs of one browser open the tabs
// demo, one of them holds the only connection to the node, and when it is
// crashed or closed mid-stream another takes over with every tab resuming
// from its own position.

// openTab loads url in a new tab of the browser context ctx: the tabs of
// one context share storage, locks and BroadcastChannels, as the tabs of one
// person's browser do.
func (b *browser) openTab(ctx, name, url string) *browserPage {
	b.t.Helper()
	b.call(time.Minute, map[string]any{"op": "open", "page": name, "url": url, "context": ctx})
	return &browserPage{b: b, name: name}
}

// close closes the tab as a person does.
func (p *browserPage) close() {
	p.b.t.Helper()
	p.b.call(30*time.Second, map[string]any{"op": "close", "page": p.name})
}

// crash kills the tab's renderer: no unload handler runs, nothing is said.
func (p *browserPage) crash() {
	p.b.t.Helper()
	p.b.call(30*time.Second, map[string]any{"op": "crash", "page": p.name})
}

// TestBrowserTabsShareOneConnection: four tabs of the tabs demo hold one
// session on the node. The leader tab crashes mid-stream, then the next
// leader is closed mid-stream; each time another tab takes over, and every
// remaining tab ends with every offset once, in order, and the node counts
// one session again.
func TestBrowserTabsShareOneConnection(t *testing.T) {
	const channel = "lab:tabs-e2e"
	n := startNode(t)
	b := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var tabs []*browserPage
	for _, name := range []string{"tab1", "tab2", "tab3", "tab4"} {
		tabs = append(tabs, b.openTab("alice", name, n.URL+"/tabs.html?channel="+channel))
	}
	subscribed := `demo.sb.state === "connected" && demo.sb.getSubscription(demo.channel)?.state === "subscribed"`
	for _, p := range tabs {
		p.wait("connected and subscribed", subscribed, 30*time.Second)
	}
	oneSession := func(what string) {
		t.Helper()
		testkit.EventuallyWithin(t, 30*time.Second, what, func() bool { return n.sessions(ctx) == 1 })
	}
	oneSession("one session for four tabs")
	leader := func(tabs []*browserPage) *browserPage {
		t.Helper()
		var found *browserPage
		testkit.EventuallyWithin(t, 30*time.Second, "exactly one leader tab", func() bool {
			found = nil
			count := 0
			for _, p := range tabs {
				var is bool
				p.eval(`demo.sb.leader`, &is)
				if is {
					found = p
					count++
				}
			}
			return count == 1
		})
		return found
	}
	without := func(tabs []*browserPage, gone *browserPage) []*browserPage {
		var out []*browserPage
		for _, p := range tabs {
			if p != gone {
				out = append(out, p)
			}
		}
		return out
	}
	everyone := func(tabs []*browserPage, total int) {
		t.Helper()
		for _, p := range tabs {
			p.wait(fmt.Sprintf("%d publications", total), fmt.Sprintf(`demo.received.length >= %d`, total), 60*time.Second)
		}
	}

	pub := &pacedPublisher{t: t, n: n, channel: channel}
	pub.publish(ctx, 20, 10*time.Millisecond)
	everyone(tabs, 10)
	first := leader(tabs)
	t.Logf("%s leads; crashing it", first.name)
	first.crash()
	tabs = without(tabs, first)
	pub.publish(ctx, 40, 10*time.Millisecond)
	everyone(tabs, pub.total)
	for _, p := range tabs {
		checkLabPage(t, p, channel, pub.total)
	}
	oneSession("one session after the crash")

	second := leader(tabs)
	t.Logf("%s took over; closing it", second.name)
	pub.publish(ctx, 10, 10*time.Millisecond)
	second.close()
	tabs = without(tabs, second)
	pub.publish(ctx, 30, 10*time.Millisecond)
	everyone(tabs, pub.total)
	for _, p := range tabs {
		checkLabPage(t, p, channel, pub.total)
		p.checkNoErrors()
	}
	leader(tabs)
	oneSession("one session after the close")
}

// TestBrowserTabsDemo opens the tabs demo in three tabs and screenshots
// them (also into $SWITCHBOARD_SHOTS when set): one leader, two followers,
// one session on the node.
func TestBrowserTabsDemo(t *testing.T) {
	const channel = "lab:tabs-demo"
	n := startNode(t)
	b := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var tabs []*browserPage
	for _, name := range []string{"tab1", "tab2", "tab3"} {
		tabs = append(tabs, b.openTab("alice", name, n.URL+"/tabs.html?channel="+channel))
	}
	pub := &pacedPublisher{t: t, n: n, channel: channel}
	for _, p := range tabs {
		p.wait("subscribed", `demo.sb.getSubscription(demo.channel)?.state === "subscribed"`, 30*time.Second)
	}
	pub.publish(ctx, 12, 50*time.Millisecond)
	for _, p := range tabs {
		p.wait("every publication and the session count", fmt.Sprintf(`demo.received.length >= %d && demo.sessions === 1 && demo.role`, pub.total), 30*time.Second)
		checkLabPage(t, p, channel, pub.total)
	}
	var roles []string
	for _, p := range tabs {
		var role string
		p.eval(`demo.role`, &role)
		roles = append(roles, role)
		p.screenshot("tabs-" + p.name)
	}
	t.Logf("roles: %v", roles)
	if dir := os.Getenv("SWITCHBOARD_SHOTS"); dir != "" {
		for _, p := range tabs {
			src := filepath.Join("..", "test-artifacts", t.Name(), "tabs-"+p.name+".png")
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "tabs-"+p.name+".png"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

package e2e_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserChatPresence: the chat page's online list matches who is
// there. Guests are named from the moment they join (not "anonymous"
// until they post), the same name on every page, and a page that forces
// another transport leaves no ghost behind.
func TestBrowserChatPresence(t *testing.T) {
	n := startNode(t)
	b := startBrowser(t)
	page := n.URL + "/chat.html?room=presence"
	alice := b.open("alice", page)
	bob := b.open("bob", page)
	for _, p := range []*browserPage{alice, bob} {
		p.wait("connected, both online", `demo.sb.state === "connected" &&
			document.querySelectorAll("#online li").length === 2 && document.getElementById("online-count").textContent === "2"`, 30*time.Second)
	}
	checkOnline(t, alice, bob)

	// Bob forces short polling: the page reloads on it.
	bob.eval(`setTimeout(() => { const s = document.getElementById("transport-select");
		s.value = "poll"; s.dispatchEvent(new Event("change")); }, 0), null`, nil)
	bob.wait("on short polling", `location.search.includes("transport=poll") && window.demo && demo.sb.state === "connected" &&
		demo.sb.transport === "poll" && demo.sb.client !== undefined`, 30*time.Second)
	// Bob's polling client has a client id of its own, so a name of its
	// own: two online on Alice's page is only the end of the switch once
	// that name is one of them (before, it can still be Bob's WebSocket
	// client, about to leave).
	var bobName string
	bob.eval(`"guest-" + String(demo.sb.client || "").slice(0, 4)`, &bobName)
	for _, p := range []*browserPage{alice, bob} {
		p.wait("two online, Bob by his polling client's name", `demo.presence === true && demo.online.size === 2 &&
			document.getElementById("online-count").textContent === "2" &&
			[...document.querySelectorAll("#online li")].some(li => li.textContent.startsWith(`+strconv.Quote(bobName)+`))`, 30*time.Second)
	}
	checkOnline(t, alice, bob)
	// Long enough for presence to settle: a poll's entry is refreshed on every
	// poll; a ghost would be an entry nobody polls for. Both pages ask the
	// node again and must still count two.
	for _, p := range []*browserPage{alice, bob} {
		var clients []string
		p.eval(`demo.sb.presence(demo.channel).then(cs => cs.map(c => c.client))`, &clients)
		if len(clients) != 2 {
			t.Errorf("page %s: the node lists %d clients %q, want 2 (alice and bob)", p.name, len(clients), clients)
		}
	}
	alice.screenshot("chat-presence-alice")
	bob.screenshot("chat-presence-bob")
	alice.checkNoErrors()
	bob.checkNoErrors()
}

// checkOnline: every page lists every person once, by the name that
// person's own page shows for itself, and none as "anonymous".
func checkOnline(t *testing.T, pages ...*browserPage) {
	t.Helper()
	self := map[string]string{}
	lists := map[string][]string{}
	for _, p := range pages {
		var names []string
		p.eval(`[...document.querySelectorAll("#online li")].map(li => li.textContent)`, &names)
		lists[p.name] = names
		for _, n := range names {
			if strings.Contains(n, "anonymous") {
				t.Errorf("page %s lists %q: %q", p.name, n, names)
			}
			if me, ok := strings.CutSuffix(n, " (you)"); ok {
				self[p.name] = me
			}
		}
		if self[p.name] == "" {
			t.Errorf("page %s does not list itself: %q", p.name, names)
		}
	}
	for _, p := range pages {
		for _, q := range pages {
			if p == q {
				continue
			}
			found := 0
			for _, n := range lists[p.name] {
				if n == self[q.name] {
					found++
				}
			}
			if found != 1 {
				t.Errorf("page %s lists %q, want %s's %q once", p.name, lists[p.name], q.name, self[q.name])
			}
		}
	}
}

// TestBrowserChatRestart: the node, on the memory broker, restarts and
// loses the room's history while a page is open. The page says so — the
// history restarted, numbering starts again — and does not claim missed
// messages; the failed attempts while the node was down are one line.
func TestBrowserChatRestart(t *testing.T) {
	n := startNode(t)
	b := startBrowser(t)
	addr := strings.TrimPrefix(n.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	alice := b.open("alice", n.URL+"/chat.html?room=restart")
	alice.wait("connected", `demo.sb.state === "connected" && demo.presence === true`, 30*time.Second)
	for _, text := range []string{"one", "two"} {
		if _, err := n.publish(ctx, "chat:restart", map[string]string{"name": "api", "text": text}); err != nil {
			t.Fatal(err)
		}
	}
	alice.wait("two messages", `demo.messages.length === 2`, 30*time.Second)

	n.stop()
	alice.wait("several failed attempts", `demo.notices.at(-1)?.key === "down" && demo.notices.at(-1).count >= 3`, 60*time.Second)
	n2 := startNode(t, "--addr", addr)
	alice.wait("back, in a new epoch", `demo.sb.state === "connected" && demo.epochs === 1`, 60*time.Second)
	if _, err := n2.publish(ctx, "chat:restart", map[string]string{"name": "api", "text": "three"}); err != nil {
		t.Fatal(err)
	}
	alice.wait("the new node's message", `demo.messages.length === 3`, 30*time.Second)

	var got struct {
		Notices []struct {
			Key   string `json:"key"`
			Text  string `json:"text"`
			Count int    `json:"count"`
		} `json:"notices"`
		Offsets []int    `json:"offsets"`
		Log     []string `json:"log"`
	}
	alice.eval(`({notices: demo.notices.map(n => ({key: n.key ?? "", text: n.text, count: n.count})),
		offsets: demo.messages.map(m => m.offset),
		log: [...document.querySelectorAll("#log li")].map(li => li.textContent)})`, &got)
	if want := []int{1, 2, 1}; len(got.Offsets) != 3 || got.Offsets[0] != want[0] || got.Offsets[1] != want[1] || got.Offsets[2] != want[2] {
		t.Errorf("offsets %v, want %v", got.Offsets, want)
	}
	downs, restarted := 0, 0
	for _, n := range got.Notices {
		if strings.Contains(n.Text, "missed") || strings.Contains(n.Text, "too old") {
			t.Errorf("the page claims lost messages: %q", n.Text)
		}
		if n.Key == "down" {
			downs++
		}
		if strings.Contains(n.Text, "history restarted") {
			restarted++
		}
	}
	if downs != 1 || restarted != 1 {
		t.Errorf("%d outage lines and %d history-restarted lines, want one of each; the log:\n%s", downs, restarted, strings.Join(got.Log, "\n"))
	}
	alice.screenshot("chat-restart")
	alice.checkNoErrors()
}

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// browser is a headless Chromium driven by e2e/browser/driver.mjs: the test
// opens pages, evaluates JavaScript in them and waits for conditions, one
// request at a time.
type browser struct {
	*nodeScript
	t      *testing.T
	nextID int
}

// browserPage is one tab, with a context (storage, cookies) of its own.
type browserPage struct {
	b    *browser
	name string
}

// startBrowser starts the driver, or skips (fails under CI=true) when
// Chromium, Node or playwright-core is missing. Screenshots go to
// test-artifacts/<test name>/.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := testenv.Chromium(t)
	nodeJS := testenv.Node(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	testenv.NPMPackage(t, root, "playwright-core")
	artifacts := filepath.Join(root, "test-artifacts", strings.ReplaceAll(t.Name(), "/", "_"))

	args := []string{filepath.Join("e2e", "browser", "driver.mjs"), "--chromium", chromium, "--artifacts", artifacts}
	// The driver closes Chromium and exits when its stdin ends.
	return &browser{t: t, nodeScript: startNodeScript(context.Background(), t, "browser driver", nodeJS, root, args...)}
}

// call sends one request and returns its value, failing the test on an
// error answer or when no answer comes within d.
func (b *browser) call(d time.Duration, req map[string]any) json.RawMessage {
	b.t.Helper()
	v, err := b.try(d, req)
	if err != nil {
		b.t.Fatalf("browser %v %v: %v", req["op"], req["page"], err)
	}
	return v
}

func (b *browser) try(d time.Duration, req map[string]any) (json.RawMessage, error) {
	b.nextID++
	req["id"] = b.nextID
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("writing to the driver: %w", err)
	}
	timeout := time.After(d + 5*time.Second)
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				<-b.exited
				return nil, fmt.Errorf("the driver ended\n%s", b.stderr)
			}
			var ans struct {
				ID    int             `json:"id"`
				OK    bool            `json:"ok"`
				Value json.RawMessage `json:"value"`
				Error string          `json:"error"`
			}
			if err := json.Unmarshal(line, &ans); err != nil {
				return nil, fmt.Errorf("driver answer %q: %w", line, err)
			}
			if ans.ID != b.nextID {
				continue // the answer to a request that timed out
			}
			if !ans.OK {
				return nil, fmt.Errorf("%s", ans.Error)
			}
			return ans.Value, nil
		case <-timeout:
			return nil, fmt.Errorf("no answer within %s", d)
		}
	}
}

// open loads url in a new page.
func (b *browser) open(name, url string) *browserPage {
	b.t.Helper()
	b.call(time.Minute, map[string]any{"op": "open", "page": name, "url": url})
	return &browserPage{b: b, name: name}
}

// eval returns the value of a JavaScript expression in the page, decoded
// into out (when not nil).
func (p *browserPage) eval(js string, out any) {
	p.b.t.Helper()
	v := p.b.call(30*time.Second, map[string]any{"op": "eval", "page": p.name, "js": js})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			p.b.t.Fatalf("eval %s: %v in %s", js, err, v)
		}
	}
}

// wait waits until a JavaScript expression is truthy in the page.
func (p *browserPage) wait(what, js string, d time.Duration) {
	p.b.t.Helper()
	if _, err := p.b.try(d, map[string]any{"op": "wait", "page": p.name, "js": js, "timeout": d.Milliseconds()}); err != nil {
		var state any
		if v, err := p.b.try(10*time.Second, map[string]any{"op": "eval", "page": p.name, "js": pageStateJS}); err == nil {
			state = string(v)
		}
		p.b.t.Fatalf("page %s: waiting for %s (%s): %v\npage state: %v", p.name, what, js, err, state)
	}
}

// pageStateJS summarises a demo page's window.demo for failure messages.
const pageStateJS = `(() => { const d = window.demo; if (!d) return "no window.demo";
  return { state: d.sb?.state, transport: d.sb?.transport, received: d.received?.length ?? d.messages?.length,
    gaps: d.gaps, events: (d.events || []).slice(-15).map(e => e.text) }; })()`

func (p *browserPage) fill(selector, text string) {
	p.b.t.Helper()
	p.b.call(30*time.Second, map[string]any{"op": "fill", "page": p.name, "selector": selector, "text": text})
}

func (p *browserPage) press(selector, key string) {
	p.b.t.Helper()
	p.b.call(30*time.Second, map[string]any{"op": "press", "page": p.name, "selector": selector, "key": key})
}

func (p *browserPage) click(selector string) {
	p.b.t.Helper()
	p.b.call(30*time.Second, map[string]any{"op": "click", "page": p.name, "selector": selector})
}

// screenshot saves the page as test-artifacts/<test>/<name>.png.
func (p *browserPage) screenshot(name string) {
	p.b.t.Helper()
	var file string
	if err := json.Unmarshal(p.b.call(time.Minute, map[string]any{"op": "screenshot", "page": p.name, "name": name}), &file); err != nil {
		p.b.t.Fatal(err)
	}
	p.b.t.Logf("screenshot: %s", file)
}

// checkNoErrors fails the test if the page threw.
func (p *browserPage) checkNoErrors() {
	p.b.t.Helper()
	var errs []string
	if err := json.Unmarshal(p.b.call(10*time.Second, map[string]any{"op": "errors", "page": p.name}), &errs); err != nil {
		p.b.t.Fatal(err)
	}
	if len(errs) > 0 {
		p.b.t.Errorf("page %s threw: %q", p.name, errs)
	}
}

// pacedPublisher publishes numbered publications to a channel through a
// node's API, one per tick.
type pacedPublisher struct {
	t       *testing.T
	n       *node
	channel string
	total   int
}

func (pp *pacedPublisher) publish(ctx context.Context, count int, pace time.Duration) {
	pp.t.Helper()
	for i := 0; i < count; i++ {
		pp.total++
		if _, err := pp.n.publish(ctx, pp.channel, map[string]int{"n": pp.total}); err != nil {
			pp.t.Fatalf("publish %d: %v", pp.total, err)
		}
		time.Sleep(pace)
	}
}

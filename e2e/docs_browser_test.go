package e2e_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/doctest"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// consoleJS records what a page prints with console.log, .warn and .error,
// one line per call, as the browser's console shows it.
const consoleJS = `(() => { window.__console = [];
  for (const k of ["log", "warn", "error"]) { const f = console[k].bind(console);
    console[k] = (...a) => { window.__console.push(a.map(v => typeof v === "string" ? v : JSON.stringify(v)).join(" ")); f(...a); }; }
  return true; })()`

// browserBlock runs a js or html block in Chromium, on a page of the doc's
// node (the path in page=, "/" by default), as a reader pastes it into the
// console or saves it as a page on the node: a js block runs as the body
// of an async function (so top-level await works), an html block replaces
// the page's body, its module scripts running as a page's would. What it
// prints on the console is compared with the directive's body (the first
// lines; more may follow), and until= is a JavaScript expression that must
// become true (what the page renders).
func (r *docRun) browserBlock(s doctest.Step) {
	r.t.Helper()
	// A subtest of its own, with its own Chromium: without one (outside CI)
	// it skips alone, and the doc's other blocks still run.
	r.t.Run(fmt.Sprintf("browser-%d", s.Line), func(t *testing.T) {
		b := startBrowser(t)
		path := s.Attrs["page"]
		if path == "" {
			path = "/"
		}
		p := b.open("doc", "http://localhost:"+r.port+path)
		p.eval(consoleJS, nil)
		code := r.subst(s.Text)
		var js string
		switch s.Lang {
		case "js", "javascript":
			js = "(async () => {\n" + code + "\n})().then(() => true)"
		case "html":
			src, _ := json.Marshal(code)
			js = `(() => { document.body.innerHTML = ` + string(src) + `;
  for (const old of document.body.querySelectorAll("script")) {
    const s = document.createElement("script"); s.type = old.type; s.textContent = old.textContent; old.replaceWith(s); }
  return true; })()`
		default:
			t.Fatalf("%s: no way to run a %q block in a browser", r.at(s), s.Lang)
		}
		p.eval(js, nil)
		r.ran++
		r.pages++
		if until := s.Attrs["until"]; until != "" {
			p.wait(r.at(s)+": "+until, until, 30*time.Second)
			r.compared++
		}
		if want := strings.TrimSpace(s.Body); want != "" {
			testkit.EventuallyNil(t, 30*time.Second, r.at(s)+": the console", func() error {
				var lines []string
				p.eval(`window.__console`, &lines)
				return doctest.Match(r.port8000(want), strings.Join(lines, "\n"), r.b, true)
			})
			r.compared++
		}
		p.checkNoErrors()
	})
}

package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/doctest"
	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
)

// docFiles are the docs whose examples TestDocs runs, from the repository's
// root. Every runnable block in them is run or skipped with a reason (see
// package doctest for the markers).
var docFiles = []string{
	"README.md",
	"docs/api.md", "docs/benchmarks.md", "docs/brokers.md", "docs/config.md",
	"docs/deployment.md", "docs/errors.md", "docs/grpc.md", "docs/limits.md", "docs/reliability.md",
	"docs/sdk.md", "docs/transports.md",
	"sdk/ts/README.md",
}

// TestDocs runs the examples of the docs against real nodes, each doc in
// its own directory with its own nodes on a port of its own, which the
// runner puts in place of the docs' localhost:8000. A node the doc starts
// (go run ./cmd/switchboard serve, ./switchboard serve) is the binary this
// package built: a `go` on PATH runs it for `go run ./cmd/switchboard` and
// copies it for `go build ./cmd/switchboard`, and `switchboard` on PATH is
// it. What a doc shows as output is compared with what was printed, with
// epochs, client ids, cursors and keys bound to the printed ones and put in
// place of the doc's in the commands that follow.
func TestDocs(t *testing.T) {
	for _, file := range docFiles {
		t.Run(strings.ReplaceAll(file, "/", "_"), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join("..", file))
			if err != nil {
				t.Fatal(err)
			}
			steps, err := doctest.Parse(string(src))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			r := newDocRun(t, file)
			for _, s := range steps {
				r.step(s)
			}
			r.finish()
			t.Logf("%s: %d run (%d in Chromium), %d compared, %d parsed by the CLI only, %d skipped%s", file, r.ran, r.pages, r.compared, r.parsed, len(r.skipped), strings.Join(r.skipped, ""))
		})
	}
}

// docRun is the state of one doc's run.
type docRun struct {
	t     *testing.T
	file  string
	dir   string // the doc's working directory: its files, its shell state
	port  string
	ports map[string]string // the doc's other node ports (":8001") to the test's
	hosts []string          // pairs: an address the doc shows, the broker's
	env   []string
	b     doctest.Bindings
	node  *docNode
	bgs   map[string]*docProc
	order []string // bgs, in the order they started

	last     string   // what the last block run printed
	lastLive *docProc // or the node whose banner comes next
	lastAt   string

	ran, compared int
	parsed        int // blocks too long to run whose command lines the CLI parsed
	pages         int // blocks run in Chromium
	skipped       []string
}

// docProc is a process a doc started in the background: a node, a stream.
type docProc struct {
	name    string
	cmd     *exec.Cmd
	out     *testkit.Buffer
	errs    *testkit.Buffer
	exited  chan struct{}
	want    string // the output the doc shows for it, checked with check
	at      string
	checked bool
}

type docNode struct {
	proc *docProc
	url  string
	key  string
}

func newDocRun(t *testing.T, file string) *docRun {
	r := &docRun{t: t, file: file, dir: t.TempDir(), port: freePort(t), ports: map[string]string{}, b: doctest.Bindings{}, bgs: map[string]*docProc{}}
	bin := filepath.Join(r.dir, ".bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	// go run ./cmd/switchboard and go build ./cmd/switchboard are the
	// binary this package built; any other go command is go's.
	shim := fmt.Sprintf(`#!/bin/bash
if [ "$1" = run ] && [ "$2" = ./cmd/switchboard ]; then shift 2; exec %[1]q "$@"; fi
if [ "$1" = build ] && [ "$2" = -o ] && [ "$4" = ./cmd/switchboard ]; then mkdir -p "$(dirname "$3")"; cp %[1]q "$3"; exit; fi
exec %[2]q "$@"
`, binary, realGo)
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(bin, "switchboard")); err != nil {
		t.Fatal(err)
	}
	// grpcurl, as a reader installs it: the version go.mod pins.
	if err := os.Symlink(grpcurl(t), filepath.Join(bin, "grpcurl")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, ".state"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SWITCHBOARD_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "NODE_OPTIONS=") {
			continue
		}
		r.env = append(r.env, kv)
	}
	r.env = append(r.env, "PATH="+bin+":"+os.Getenv("PATH"),
		// A node a doc's shell starts listens where the doc's commands go.
		"SWITCHBOARD_ADDR=:"+r.port,
		"SB_URL=http://localhost:"+r.port,
		"GORACE=halt_on_error=1 atexit_sleep_ms=0")
	t.Cleanup(func() {
		for _, name := range r.order {
			r.bgs[name].kill()
		}
		if r.node != nil {
			r.node.proc.kill()
		}
	})
	return r
}

// freePort returns a port that is free on every interface, below the
// kernel's range of ephemeral ports (32768 and up on Linux), where the
// outgoing connections of other tests on this machine never take it between
// this check and the node's listen: a doc's shell starts nodes on a port
// fixed in advance.
func freePort(t *testing.T) string {
	t.Helper()
	for range 200 {
		port := strconv.Itoa(20000 + rand.IntN(12000))
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port below 32000")
	return ""
}

// subst puts the test's ports and addresses and the printed values in
// place of the doc's.
func (r *docRun) subst(s string) string { return r.local(r.b.Apply(s)) }

// port8000 puts the test's ports and addresses in place of the doc's in
// what a doc shows.
func (r *docRun) port8000(want string) string { return r.local(want) }

func (r *docRun) at(s doctest.Step) string { return fmt.Sprintf("%s:%d", r.file, s.Line) }

func (r *docRun) fatalf(s doctest.Step, format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s: %s", r.at(s), fmt.Sprintf(format, args...))
}

func (r *docRun) step(s doctest.Step) {
	r.t.Helper()
	switch s.Directive {
	case "":
		// An illustration: a config, a frame, a diagram.
	case "skip":
		r.skipped = append(r.skipped, fmt.Sprintf("\n  skipped %s: %s", r.at(s), s.Attrs["reason"]))
	case "node":
		r.startNode(s, strings.Fields(s.Attrs["args"]))
	case "stop":
		r.stopNode()
	case "serve":
		cmd := strings.TrimSpace(strings.SplitN(s.Text, "#", 2)[0])
		_, flags, ok := strings.Cut(cmd, "switchboard serve")
		if !ok || strings.Contains(strings.TrimSpace(s.Text), "\n") {
			r.fatalf(s, "a serve block holds one `switchboard serve` command: %q", s.Text)
		}
		r.startNode(s, unquote(strings.Fields(strings.TrimSuffix(strings.TrimSpace(flags), "&"))))
		r.lastLive, r.lastAt = r.node.proc, r.at(s)
		r.ran++
	case "file":
		if err := os.WriteFile(filepath.Join(r.dir, s.Attrs["path"]), []byte(r.subst(s.Text)), 0o644); err != nil {
			r.fatalf(s, "%v", err)
		}
		r.ran++
	case "sh":
		r.shell(s, s.Body, time.Minute)
	case "run":
		r.run(s)
	case "transcript":
		r.transcript(s)
	case "websocket":
		r.websocket(s)
	case "flags":
		r.flags(s)
	case "browser":
		r.browserBlock(s)
	case "output":
		r.output(s)
	case "wait":
		p := r.bg(s, s.Attrs["name"])
		want := r.subst(s.Attrs["for"])
		testkit.EventuallyNil(r.t, 30*time.Second, r.at(s)+": wait for "+want, func() error {
			if strings.Contains(p.out.String(), want) {
				return nil
			}
			return fmt.Errorf("%s has printed:\n%s\nstderr:\n%s", p.name, p.out, p.errs)
		})
	case "check":
		p := r.bg(s, s.Attrs["name"])
		if s.Body != "" {
			p.want, p.at = s.Body, r.at(s)
		}
		r.check(p)
	case "kill":
		r.bg(s, s.Attrs["name"]).kill()
	case "redis", "nats":
		r.services(s)
	default:
		r.fatalf(s, "directive %q is not for this place", s.Directive)
	}
}

func (r *docRun) bg(s doctest.Step, name string) *docProc {
	p, ok := r.bgs[name]
	if !ok {
		r.fatalf(s, "no background run named %q", name)
	}
	return p
}

// check compares what a background run printed with what the doc shows for
// it, waiting for the output to arrive (a stream's ping comes after
// ping_interval, 25s), then stops it. The run may have printed more after
// the doc's text ends: it is still open.
func (r *docRun) check(p *docProc) {
	r.t.Helper()
	p.checked = true
	testkit.EventuallyNil(r.t, 40*time.Second, p.at+": output of "+p.name, func() error {
		b := doctest.Bindings{}
		for k, v := range r.b {
			b[k] = v
		}
		if err := doctest.Match(r.port8000(p.want), p.out.String(), b, true); err != nil {
			return fmt.Errorf("%v\nstderr:\n%s", err, p.errs)
		}
		for k, v := range b {
			r.b[k] = v
		}
		return nil
	})
	r.compared++
	p.kill()
}

func (r *docRun) finish() {
	r.t.Helper()
	for _, name := range r.order {
		if p := r.bgs[name]; !p.checked && p.want != "" {
			r.check(p)
		}
	}
}

// start runs argv in the doc's directory, in a process group of its own so
// that what it starts in the background stops with it.
func (r *docRun) start(name string, env []string, argv ...string) *docProc {
	r.t.Helper()
	p := &docProc{name: name, out: &testkit.Buffer{}, errs: &testkit.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir, p.cmd.Env = r.dir, append(append([]string(nil), r.env...), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	return p
}

// kill ends the process group with SIGTERM, and SIGKILL after 15s.
func (p *docProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

var apiKeyRE = regexp.MustCompile(`api key:\s+(\S+)`)

// startNode starts a fresh node for the doc on its port, stopping the one
// before, and waits until it is ready.
func (r *docRun) startNode(s doctest.Step, flags []string) {
	r.t.Helper()
	r.stopNode()
	for i, f := range flags {
		flags[i] = r.subst(f)
	}
	p := r.start("node", nil, append([]string{binary, "serve", "--addr", ":" + r.port}, flags...)...)
	p.at = r.at(s)
	n := &docNode{proc: p, url: "http://localhost:" + r.port}
	testkit.EventuallyNil(r.t, 30*time.Second, r.at(s)+": node ready", func() error {
		select {
		case <-p.exited:
			r.fatalf(s, "the node exited: %v\n%s%s", p.cmd.ProcessState, p.out, p.errs)
		default:
		}
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	// The key a node prints when it made one ("from config file" when it
	// was given one); the flag's otherwise.
	if m := apiKeyRE.FindStringSubmatch(p.out.String()); m != nil && m[1] != "from" {
		n.key = m[1]
	}
	for i, f := range flags {
		if f == "--api-key" && i+1 < len(flags) {
			n.key = flags[i+1]
		}
	}
	r.node = n
	r.setEnv("SB_KEY", n.key)
}

// unquote takes off the shell's quotes around a whole word, as in
// --broker 'nats://a:4222,b:4222?replicas=3'.
func unquote(words []string) []string {
	for i, w := range words {
		if len(w) >= 2 && (w[0] == '\'' || w[0] == '"') && w[len(w)-1] == w[0] {
			words[i] = w[1 : len(w)-1]
		}
	}
	return words
}

func (r *docRun) stopNode() {
	if r.node != nil {
		r.node.proc.kill()
		r.node = nil
	}
}

func (r *docRun) setEnv(k, v string) {
	for i, kv := range r.env {
		if strings.HasPrefix(kv, k+"=") {
			r.env[i] = k + "=" + v
			return
		}
	}
	r.env = append(r.env, k+"="+v)
}

// shell runs script with bash in the doc's directory, with the variables
// the doc's blocks before it exported, and fails the test unless it exits
// 0 within d. It returns what it printed on stdout.
func (r *docRun) shell(s doctest.Step, script string, d time.Duration) string {
	r.t.Helper()
	full := "source .state\nset -e -o pipefail\n" + r.subst(script) + "\nexport -p | grep -v -e ' SB_KEY=' -e ' SB_URL=' > .state\n"
	p := r.start("sh", nil, "bash", "-c", full)
	select {
	case <-p.exited:
	case <-time.After(d):
		p.kill()
		r.fatalf(s, "did not end within %v\n%s\nprinted:\n%s%s", d, script, p.out, p.errs)
	}
	if !p.cmd.ProcessState.Success() {
		r.fatalf(s, "%v\n%s\nprinted:\n%s\nstderr:\n%s", p.cmd.ProcessState, r.subst(script), p.out, p.errs)
	}
	return p.out.String()
}

// program returns the command that runs a block of the given language.
func (r *docRun) program(s doctest.Step) []string {
	r.t.Helper()
	switch s.Lang {
	case "sh", "bash", "shell":
		return []string{"bash", "-c", "source .state\nset -e -o pipefail\n" + r.subst(s.Text)}
	case "js", "javascript", "mjs":
		file := filepath.Join(r.dir, fmt.Sprintf("block-%d.mjs", s.Line))
		if err := os.WriteFile(file, []byte(r.subst(s.Text)), 0o644); err != nil {
			r.t.Fatal(err)
		}
		return []string{testenv.Node(r.t), file}
	case "go":
		return r.goProgram(s)
	}
	r.fatalf(s, "no way to run a %q block", s.Lang)
	return nil
}

func (r *docRun) run(s doctest.Step) {
	r.t.Helper()
	r.ran++
	var env []string
	if e := s.Attrs["env"]; e != "" {
		env = strings.Fields(e)
	}
	if name := s.Attrs["bg"]; name != "" {
		p := r.start(name, env, r.program(s)...)
		p.at = r.at(s)
		r.bgs[name] = p
		r.order = append(r.order, name)
		r.lastLive, r.lastAt = p, r.at(s)
		return
	}
	var out string
	if s.Lang == "sh" || s.Lang == "bash" || s.Lang == "shell" {
		out = r.shell(s, s.Text, time.Minute)
	} else {
		p := r.start("run", env, r.program(s)...)
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			p.kill()
			r.fatalf(s, "did not end within a minute\nprinted:\n%s%s", p.out, p.errs)
		}
		if !p.cmd.ProcessState.Success() {
			r.fatalf(s, "%v\nprinted:\n%s\nstderr:\n%s", p.cmd.ProcessState, p.out, p.errs)
		}
		out = p.out.String()
	}
	r.last, r.lastLive, r.lastAt = out, nil, r.at(s)
	if _, ok := s.Attrs["comments"]; ok {
		// more="why": commands after the last output shown print their
		// own, which the doc does not show.
		_, more := s.Attrs["more"]
		if err := doctest.Match(r.port8000(doctest.CommentOutput(s.Text)), jsonLines(out), r.b, more); err != nil {
			r.fatalf(s, "%v", err)
		}
		r.compared++
	}
}

// jsonLines keeps the lines of out that are JSON answers: what a shell
// block's comments show, without a node's banner that a command in the
// block started.
func jsonLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") || strings.HasPrefix(l, "[") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func (r *docRun) compare(s doctest.Step, want, got string) {
	r.t.Helper()
	if err := doctest.Match(r.port8000(want), got, r.b, false); err != nil {
		r.fatalf(s, "%v", err)
	}
	r.compared++
}

// output compares the block with what the block before printed, or, for a
// node or a background run, keeps it to check later (or now, for a node's
// banner, which is printed when it is ready).
func (r *docRun) output(s doctest.Step) {
	r.t.Helper()
	if name := s.Attrs["of"]; name != "" {
		p := r.bg(s, name)
		p.want, p.at = s.Text, r.at(s)
		return
	}
	switch {
	case r.lastLive != nil && r.lastLive.name == "node":
		if err := doctest.Match(r.port8000(s.Text), r.lastLive.out.String(), r.b, false); err != nil {
			r.fatalf(s, "the banner of the node started at %s: %v", r.lastAt, err)
		}
		r.compared++
	case r.lastLive != nil:
		r.lastLive.want, r.lastLive.at = s.Text, r.at(s)
	case r.lastAt != "":
		want, got := s.Text, r.last
		if _, ok := s.Attrs["wrapped"]; ok {
			// wrapped: long JSON lines the doc breaks for reading.
			want = doctest.Unwrap(want)
		}
		if _, ok := s.Attrs["json"]; ok {
			// json: one JSON value, laid out for reading; any="K,…":
			// fields whose values vary from machine to machine.
			var anyOf []string
			if a := s.Attrs["any"]; a != "" {
				anyOf = strings.Split(a, ",")
			}
			w, err := doctest.JSON(want, anyOf)
			if err != nil {
				r.fatalf(s, "%v", err)
			}
			want, got = w, doctest.CompactJSON(got)
		}
		if h := s.Attrs["ignore"]; h != "" {
			// ignore="Date": headers of curl -i that change from run to run.
			got = doctest.DropHeaders(got, strings.Split(h, ","))
		}
		if _, ok := s.Attrs["tail"]; ok {
			// tail: the doc shows the last lines only (after a banner).
			got = doctest.LastLines(got, doctest.Lines(want))
		}
		r.compare(s, want, got)
	default:
		r.fatalf(s, "output of nothing: no block ran before it")
	}
}

// transcript runs each "$ command" of the block and compares what it
// printed with the lines after it; the directive's body is a script run
// between the first command and the second (what happens while a reader is
// away). With bg=NAME the block is one command,
// run in the background and checked later. With fails, every command must
// fail (a refusal, as grpcurl reports a status), and what it printed on
// stdout and stderr, as a terminal shows them, is compared (in the
// background, its output to the end is compared; its exit is not checked).
func (r *docRun) transcript(s doctest.Step) {
	r.t.Helper()
	type cmd struct{ line, want string }
	var cmds []cmd
	for _, l := range strings.Split(strings.TrimRight(s.Text, "\n"), "\n") {
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			cmds = append(cmds, cmd{line: c})
			continue
		}
		if len(cmds) == 0 {
			r.fatalf(s, "a transcript starts with a $ command")
		}
		cmds[len(cmds)-1].want += l + "\n"
	}
	_, fails := s.Attrs["fails"]
	if name := s.Attrs["bg"]; name != "" {
		if len(cmds) != 1 {
			r.fatalf(s, "a background transcript holds one command")
		}
		script := "source .state\n"
		if fails {
			// It ends with a refusal on stderr, which the doc shows.
			script += "exec 2>&1\n"
		}
		p := r.start(name, nil, "bash", "-c", script+r.subst(cmds[0].line))
		p.want, p.at = cmds[0].want, r.at(s)
		r.bgs[name] = p
		r.order = append(r.order, name)
		r.ran++
		return
	}
	for i, c := range cmds {
		if i == 1 && s.Body != "" {
			r.shell(s, s.Body, time.Minute)
		}
		var out string
		if fails {
			out = r.failing(s, c.line)
		} else {
			out = r.shell(s, c.line, time.Minute)
		}
		r.ran++
		r.compare(s, c.want, out)
	}
}

// failing runs a command that the doc shows failing, and returns what it
// printed on stdout and stderr together; it fails the test if the command
// succeeds or does not end within a minute.
func (r *docRun) failing(s doctest.Step, line string) string {
	r.t.Helper()
	p := r.start("sh", nil, "bash", "-c", "source .state\nexec 2>&1\n"+r.subst(line))
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.kill()
		r.fatalf(s, "did not end within a minute\n%s\nprinted:\n%s", line, p.out)
	}
	if p.cmd.ProcessState.Success() {
		r.fatalf(s, "the doc shows it failing, but it succeeded\n%s\nprinted:\n%s", r.subst(line), p.out)
	}
	return p.out.String()
}

// websocket plays a "→ sent / ← received" transcript on one WebSocket
// connection: after each frame sent it reads as many frames as the doc
// shows before the next one sent, and compares each.
func (r *docRun) websocket(s doctest.Step) {
	r.t.Helper()
	url := "ws://localhost:" + r.port + "/connection/websocket"
	type exchange struct {
		send string
		want []string
	}
	var xs []exchange
	for _, l := range strings.Split(strings.TrimRight(s.Text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "$ websocat "):
			url = r.subst(strings.TrimSpace(strings.TrimPrefix(l, "$ websocat ")))
		case strings.HasPrefix(l, "→ "):
			xs = append(xs, exchange{send: strings.TrimPrefix(l, "→ ")})
		case strings.HasPrefix(l, "← "):
			if len(xs) == 0 {
				r.fatalf(s, "a frame received before any sent")
			}
			xs[len(xs)-1].want = append(xs[len(xs)-1].want, strings.TrimPrefix(l, "← "))
		default:
			r.fatalf(s, "not a transcript line: %q", l)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := wsclient.Dial(ctx, url, wsclient.Options{})
	if err != nil {
		r.fatalf(s, "dial %s: %v", url, err)
	}
	defer conn.Close()
	// The first ping comes at any moment within ping_interval (heartbeats
	// go out in buckets), then one every ping_interval: one that comes
	// before the frame the doc shows is taken as the doc's next ping.
	pinged := false
	for _, x := range xs {
		if err := conn.WriteText([]byte(r.subst(x.send))); err != nil {
			r.fatalf(s, "send %s: %v", x.send, err)
		}
		for _, want := range x.want {
			if want == `{"type":"ping"}` && pinged {
				pinged = false
				r.compared++
				continue
			}
			for {
				_ = conn.NetConn().SetReadDeadline(time.Now().Add(40 * time.Second))
				_, got, err := conn.ReadMessage()
				if err != nil {
					r.fatalf(s, "after %s, waiting for %s: %v", x.send, want, err)
				}
				if string(got) == `{"type":"ping"}` && want != string(got) && !pinged {
					pinged = true
					continue
				}
				r.compare(s, want, string(got))
				break
			}
		}
	}
	r.ran++
}

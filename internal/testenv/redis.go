package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// debianRedis is where Debian's redis-server package installs the server.
const debianRedis = "/usr/bin/redis-server"

// redisWait bounds how long a starting server may take to answer PING, and
// how long Stop waits for an orderly exit. A server replaying a large
// append-only file is the slow case; a passing test never comes near it.
const redisWait = 15 * time.Second

// tailBytes is how much of a failed server's output an error quotes: its
// end, enough for the reason it failed.
const tailBytes = 4096

// RedisServer is a private redis-server process, started by Redis for one
// test on a free port of 127.0.0.1, with its own directory. A test points
// its Redis clients at Addr, and can take the server away and bring it back
// on the same address: Kill is a crash (SIGKILL), Stop a clean shutdown,
// Restart starts it again. Without RedisAppendOnly the server keeps nothing
// on disk, so a restart comes back empty, as a Redis that lost its data does.
//
// Its methods are meant for the test's goroutine: on failure they stop the
// test with Fatalf. Addr and URL are safe anywhere. The server is killed,
// and its process waited for, when the test ends.
type RedisServer struct {
	t    TB
	bin  string
	dir  string
	lead []string // before --port: a config file, --sentinel
	args []string // everything but --port
	port int

	mu   sync.Mutex
	proc *redisProc // nil while the server is not running
}

// redisProc is one run of the server process.
type redisProc struct {
	cmd    *exec.Cmd
	out    *testkit.Buffer
	exited chan struct{} // closed once the process has been waited for
}

// RedisOption changes how Redis starts the server.
type RedisOption func(*redisOptions)

type redisOptions struct {
	appendOnly bool
	args       []string
}

// RedisAppendOnly turns persistence on: an append-only file fsynced after
// every write (--appendonly yes --appendfsync always), so whatever the
// server acknowledged survives Kill and is there again after Restart.
func RedisAppendOnly() RedisOption {
	return func(o *redisOptions) { o.appendOnly = true }
}

// RedisArgs passes more command-line options to redis-server, such as
// "--maxmemory", "10mb". They come after the ones Redis sets, so they win.
func RedisArgs(args ...string) RedisOption {
	return func(o *redisOptions) { o.args = append(o.args, args...) }
}

// Redis starts a redis-server for the test and returns it once it answers
// PING. It uses Debian's /usr/bin/redis-server, or redis-server on PATH;
// without one the test is skipped, or fails under CI (see Unavailable).
func Redis(t TB, opts ...RedisOption) *RedisServer {
	t.Helper()
	return startRedis(t, "redis-server", nil, opts...)
}

// startRedis starts a redis-server for the test on a free port, in a
// directory of its own. lead, when set, is called with that directory and
// the port before the first start, and returns the arguments that go before
// --port (a config file written there, --sentinel); what names the server
// in errors.
func startRedis(t TB, what string, lead func(dir string, port int) ([]string, error), opts ...RedisOption) *RedisServer {
	t.Helper()
	bin := redisBinary(t)
	var o redisOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := os.MkdirTemp("", "switchboard-"+what+"-")
	if err != nil {
		t.Fatalf("testenv: %s: %v", what, err)
		return nil
	}
	s := &RedisServer{t: t, bin: bin, dir: dir}
	// Cleanups run last-registered first: the process goes before its
	// directory.
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(s.kill)

	appendOnly := "no"
	if o.appendOnly {
		appendOnly = "yes"
	}
	s.args = append([]string{
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", appendOnly,
		"--appendfsync", "always",
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	}, o.args...)

	// Another process may take the free port between our probe and the
	// server's bind; a few fresh ports make that a non-event.
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: %s: %v", what, err)
			return nil
		}
		s.port = port
		if lead != nil {
			if s.lead, err = lead(dir, port); err != nil {
				t.Fatalf("testenv: %s: %v", what, err)
				return nil
			}
		}
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("testenv: %s did not start: %v", what, last)
	return nil
}

// redisBinary finds redis-server, or stops the test.
func redisBinary(t TB) string {
	t.Helper()
	if executable(debianRedis) {
		return debianRedis
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	Unavailable(t, "redis-server is not installed (looked for %s and on PATH); "+
		"install Debian's package: apt-get install redis-server, or run make deps", debianRedis)
	return ""
}

// Addr is the server's address, "127.0.0.1:port". It stays the same across
// Kill and Restart.
func (s *RedisServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is the server's address as a redis:// URL, for clients configured
// that way.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's working directory, where an append-only file goes.
func (s *RedisServer) Dir() string { return s.dir }

// Running reports whether the server's process is up: started and
// neither killed nor stopped since.
func (s *RedisServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Kill ends the server at once with SIGKILL, as a crash would: clients see
// their connections reset, and nothing not yet on disk survives. Killing a
// server that is not running does nothing.
func (s *RedisServer) Kill() {
	s.t.Helper()
	s.kill()
}

func (s *RedisServer) kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Pause stops the server with SIGSTOP, as a Redis that hangs: its
// connections stay open and it answers nothing until Resume (SIGCONT).
// Kill, Restart and the test's cleanup work on a paused server too.
func (s *RedisServer) Pause() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
}

// Resume lets a paused server go on (SIGCONT).
func (s *RedisServer) Resume() {
	s.t.Helper()
	s.signal(syscall.SIGCONT)
}

func (s *RedisServer) signal(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		s.t.Fatalf("testenv: redis-server is not running")
		return
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("testenv: redis-server: %v: %v", sig, err)
	}
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit;
// one that takes too long is killed. Stopping a server that is not running
// does nothing.
func (s *RedisServer) Stop() {
	s.t.Helper()
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(redisWait):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		s.t.Fatalf("testenv: redis-server ignored SIGTERM for %v; killed it", redisWait)
	}
}

// Restart starts the server again on the same address, killing it first if
// it is still running, and returns once it answers PING. With
// RedisAppendOnly it comes back with everything it had acknowledged.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.kill()
	// The old process's listening socket is gone once it has been waited
	// for, but give a loaded kernel a moment before calling it a failure.
	testkit.EventuallyNil(s.t, redisWait, "redis-server to start again on "+s.Addr(), s.start)
}

// configure sets parameters of the running server with CONFIG SET, in
// name, value pairs, and keeps them for every later start: what a test
// can only know once the server runs, such as the port of the proxy in
// front of it.
func (s *RedisServer) configure(kv ...string) {
	s.t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if _, err := s.Do("CONFIG", "SET", kv[i], kv[i+1]); err != nil {
			s.t.Fatalf("testenv: redis-server %s: CONFIG SET %s %s: %v", s.Addr(), kv[i], kv[i+1], err)
			return
		}
		s.args = append(s.args, "--"+kv[i], kv[i+1])
	}
}

// PauseAll stops every one of servers with SIGSTOP, as Pause does, in
// one go: a whole deployment that hangs.
func PauseAll(servers []*RedisServer) {
	for _, s := range servers {
		s.Pause()
	}
}

// ResumeAll lets every one of servers go on (SIGCONT).
func ResumeAll(servers []*RedisServer) {
	for _, s := range servers {
		s.Resume()
	}
}

// KillAll kills every one of servers with SIGKILL, as Kill does.
func KillAll(servers []*RedisServer) {
	for _, s := range servers {
		s.Kill()
	}
}

// Empty removes everything the server stored in its directory, so that
// its next start finds nothing: the data and, in a cluster, nodes.conf.
// A configuration file it was started with stays. The server must not be
// running.
func (s *RedisServer) Empty() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("testenv: redis-server %s: Empty while it runs", s.Addr())
		return
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.t.Fatalf("testenv: redis-server: %v", err)
		return
	}
	for _, e := range entries {
		path := filepath.Join(s.dir, e.Name())
		if slices.Contains(s.lead, path) {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			s.t.Fatalf("testenv: redis-server: %v", err)
			return
		}
	}
}

// start runs the server and waits until it answers PING. On failure the
// process is gone again and the error holds what it printed.
func (s *RedisServer) start() error {
	args := append(append(append([]string(nil), s.lead...), "--port", strconv.Itoa(s.port)), s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	out := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &redisProc{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(redisWait)
	for {
		err := ping(s.Addr())
		if err == nil {
			break
		}
		select {
		case <-p.exited:
			return fmt.Errorf("redis-server exited: %v\n%s", err, out.Tail(tailBytes))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
			return fmt.Errorf("no answer to PING after %v: %v\n%s", redisWait, err, out.Tail(tailBytes))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Do sends one command on a new connection and returns the reply: a simple
// or bulk string as it is, an integer in decimal, a nil bulk string as "".
// A Redis error reply is returned as an error. Array replies are not
// supported. It lets a test act on the server directly — CLIENT KILL,
// CONFIG SET, DEBUG — without a client library.
func (s *RedisServer) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), redisWait)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(redisWait))
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(req.Bytes()); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

// readReply reads one RESP2 reply other than an array.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("testenv: empty reply line")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", fmt.Errorf("redis: %s", body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", fmt.Errorf("testenv: bad bulk length %q", body)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("testenv: unsupported reply %.20q", line)
	}
}

// ping reports whether a server on addr answers PING with PONG. A server
// still loading its data answers -LOADING, which is not ready either.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	reply, err := readReply(bufio.NewReader(c))
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// freePort finds a port of 127.0.0.1 nobody listens on, for a server the
// test starts next. It picks one below the kernel's range of ephemeral
// ports when it can: a port from that range may be given to an outgoing
// connection between the probe and the server's bind, which on a busy
// machine, with thousands of connections open, happens.
func freePort() (int, error) {
	lo := ephemeralLow()
	for range 100 {
		if lo <= minPort {
			break
		}
		port := minPort + rand.IntN(lo-minPort)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// minPort is the lowest port freePort picks: above the well-known and
// most registered ones.
const minPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}

package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Launch describes a node the benchmark starts for itself.
type Launch struct {
	// Binary is the switchboard executable; default: this process's own.
	Binary string
	// CPU pins the node to one CPU with taskset (-1: not pinned).
	CPU int
	// GoMaxProcs sets GOMAXPROCS for the node (0: the Go default).
	GoMaxProcs int
	// Args are extra arguments after "serve".
	Args []string
	// Stderr receives the node's logs (default: discarded).
	Stderr io.Writer
	// TLS serves the node over TLS with a self-signed certificate made
	// for the run (Start only); the Node's TLS then trusts it.
	TLS bool
}

// Node is a running node under test: one Start launched, or one named by
// URL, APIKey and PID (Stop then does nothing).
type Node struct {
	URL    string // http://127.0.0.1:port
	APIKey string
	PID    int
	// Addr is the floor server's host:port (StartFloor); empty for a node.
	Addr string
	// TLS, when set, is the client configuration for a node that serves
	// TLS: URL is then https:// and WebSocket connections are wss://.
	TLS *tls.Config

	cmd     *exec.Cmd
	stdout  io.Writer     // where the process's output goes; nil: discarded
	tmpDir  string        // the TLS certificate's, removed by Stop
	exited  chan struct{} // closed when the process has exited
	exitErr error
}

// Start launches a node on a loopback port of its own choosing and waits
// until it is ready. The node binds port 0 and its banner says which port
// it got: a port picked here and bound later by the node could be taken
// meanwhile by another process, whose server the readiness check might
// then take for the node.
func Start(ctx context.Context, l Launch) (*Node, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	n := &Node{APIKey: hex.EncodeToString(key[:])}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--api-key", n.APIKey, "--debug-endpoints"}, l.Args...)
	scheme := "http://"
	if l.TLS {
		var err error
		if n.tmpDir, err = os.MkdirTemp("", "switchboard-bench-"); err != nil {
			return nil, err
		}
		cert, key, cfg, err := selfSigned(n.tmpDir)
		if err != nil {
			n.Stop()
			return nil, err
		}
		scheme, n.TLS = "https://", cfg
		args = append(args, "--tls.cert-file", cert, "--tls.key-file", key)
	}
	addrs := make(chan string, 1)
	n.stdout = bannerWatch(addrs)
	if err := n.spawn(l, args); err != nil {
		n.Stop()
		return nil, err
	}
	select {
	case addr := <-addrs:
		n.URL = scheme + addr
	case <-n.exited:
		n.Stop()
		return nil, fmt.Errorf("bench: the node exited before it listened: %v", n.exitErr)
	case <-ctx.Done():
		n.Stop()
		return nil, fmt.Errorf("bench: the node did not say where it listens: %w", ctx.Err())
	}
	if err := n.waitReady(ctx, n.ready); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// bannerWatch is a writer for a node's standard output that sends the
// address of its banner's first line ("Switchboard … is serving on
// 127.0.0.1:PORT (broker: …)") to addrs, once, and drops the rest.
func bannerWatch(addrs chan<- string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			if found {
				continue
			}
			line := sc.Text()
			if _, rest, ok := strings.Cut(line, " is serving on "); ok {
				if addr, _, ok := strings.Cut(rest, " "); ok {
					addrs <- addr
					found = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}

// StartFloor launches the raw-TCP floor server ("bench floor-server" of the
// same binary, see ServeFloor) the way Start launches a node. Its address
// is the node's Addr.
func StartFloor(ctx context.Context, l Launch) (*Node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	n := &Node{URL: "tcp://" + addr, Addr: addr}
	if err := n.spawn(l, append([]string{"bench", "floor-server", "--addr", addr}, l.Args...)); err != nil {
		return nil, err
	}
	dialed := func(ctx context.Context) bool {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if err := n.waitReady(ctx, dialed); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// spawn starts the binary with args, pinned and with GOMAXPROCS as l says.
func (n *Node) spawn(l Launch, args []string) error {
	bin := l.Binary
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		bin = self
	}
	n.exited = make(chan struct{})
	name := bin
	if l.CPU >= 0 {
		if tp, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{"-c", strconv.Itoa(l.CPU), bin}, args...)
			name = tp
		}
	}
	n.cmd = exec.Command(name, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SB_BENCH_") {
			n.cmd.Env = append(n.cmd.Env, kv)
		}
	}
	if l.GoMaxProcs > 0 {
		n.cmd.Env = append(n.cmd.Env, "GOMAXPROCS="+strconv.Itoa(l.GoMaxProcs))
	}
	n.cmd.Stdout = io.Discard
	if n.stdout != nil {
		n.cmd.Stdout = n.stdout
	}
	n.cmd.Stderr = l.Stderr
	if n.cmd.Stderr == nil {
		n.cmd.Stderr = io.Discard
	}
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.PID = n.cmd.Process.Pid
	go func() {
		n.exitErr = n.cmd.Wait()
		if c, ok := n.stdout.(io.Closer); ok {
			c.Close()
		}
		close(n.exited)
	}()
	return nil
}

// ready reports whether the node answers /readyz with 200.
func (n *Node) ready(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/readyz", nil)
	resp, err := n.httpClient().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (n *Node) waitReady(ctx context.Context, ready func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !ready(ctx) {
		select {
		case <-n.exited:
			return fmt.Errorf("node exited before it was ready: %v", n.exitErr)
		case <-ctx.Done():
			return errors.New("node not ready within 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Stop ends the node (SIGTERM, then SIGKILL after 10s) and waits for it.
func (n *Node) Stop() {
	if n == nil {
		return
	}
	if n.tmpDir != "" {
		defer os.RemoveAll(n.tmpDir)
	}
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

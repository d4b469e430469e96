package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// debianNATS is where Debian's nats-server package installs the server.
const debianNATS = "/usr/bin/nats-server"

// NATSProcess is a nats-server process from the machine's own install
// (Debian's package, or nats-server on PATH), with JetStream, started for
// one test on a free port of 127.0.0.1 with its own store directory. It
// exists to run the broker against the server a distribution ships, which
// may be older than the embedded one (Debian 12 ships 2.9.10); NATS starts
// the embedded server, which is what the other tests use. The process is
// killed, and waited for, when the test ends.
type NATSProcess struct {
	addr    string
	version string
}

// NATSBinary starts the installed nats-server for the test and returns it
// once it accepts clients. Without one the test is skipped, or fails under
// CI (see Unavailable).
func NATSBinary(t TB) *NATSProcess {
	t.Helper()
	bin := natsBinary(t)
	dir, err := os.MkdirTemp("", "switchboard-natsbin-")
	if err != nil {
		t.Fatalf("testenv: nats-server: %v", err)
		return nil
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: nats-server: %v", err)
			return nil
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir)
		out := &testkit.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("testenv: nats-server: %v", err)
			return nil
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		var version string
		version, last = waitINFO(addr, exited, out)
		if last == nil {
			t.Cleanup(stop)
			return &NATSProcess{addr: addr, version: version}
		}
		stop()
	}
	t.Fatalf("testenv: nats-server did not start: %v", last)
	return nil
}

// natsBinary finds nats-server, or stops the test.
func natsBinary(t TB) string {
	t.Helper()
	if executable(debianNATS) {
		return debianNATS
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	Unavailable(t, "nats-server is not installed (looked for %s and on PATH); "+
		"install Debian's package: apt-get install nats-server, or run make deps", debianNATS)
	return ""
}

// waitINFO waits until the server on addr greets a client, and returns the
// version it announces.
func waitINFO(addr string, exited <-chan struct{}, out *testkit.Buffer) (string, error) {
	deadline := time.Now().Add(natsWait)
	for {
		v, err := natsInfoVersion(addr)
		if err == nil {
			return v, nil
		}
		select {
		case <-exited:
			return "", fmt.Errorf("nats-server exited: %v\n%s", err, out.Tail(tailBytes))
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no INFO after %v: %v\n%s", natsWait, err, out.Tail(tailBytes))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// natsInfoVersion reads the version a server on addr announces in the INFO
// line it greets every client with.
func natsInfoVersion(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(line, `"version":"`)
	if !ok {
		return "", fmt.Errorf("no version in %.80q", line)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v, nil
}

// URL is the server's address as a nats:// URL.
func (p *NATSProcess) URL() string { return "nats://" + p.addr }

// Version is the version the server announces, such as "2.9.10".
func (p *NATSProcess) Version() string { return p.version }

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestOpenFileLimit runs a node whose process may open 256 descriptors and
// opens more connections than that: the node derives its limits from the
// open-file limit, says so in its log, closes the connections it has no
// room for at once instead of leaving them hanging, and answers /healthz
// again as soon as they are gone.
func TestOpenFileLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to set the open-file limit with")
	}
	bin := filepath.Join(t.TempDir(), "switchboard")
	if err := testkit.BuildSwitchboard(bin); err != nil {
		t.Fatal(err)
	}
	// ulimit -n sets the hard limit too, so the Go runtime cannot raise it.
	cmd := exec.Command(sh, "-c", `ulimit -n 256 && exec "$0" serve --addr 127.0.0.1:0 --shutdown-drain 100ms`, bin)
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				base <- strings.TrimPrefix(m[1], "http://")
			}
		}
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	var addr string
	select {
	case addr = <-base:
	case err := <-exited:
		stopped = true
		t.Fatalf("serve exited: %v; stderr:\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve printed no URL; stderr:\n%s", stderr.String())
	}
	// 256 descriptors: 64 kept back, 192 sessions, 32 more connections.
	// The limits line may follow the URL banner: the two go to different
	// streams.
	testkit.EventuallyNil(t, 10*time.Second, "the start log states the limits", func() error {
		for _, want := range []string{"open_files=256", "sessions=192", "open_connections=224"} {
			if !strings.Contains(stderr.String(), want) {
				return fmt.Errorf("the start log does not say %s:\n%s", want, stderr.String())
			}
		}
		return nil
	})

	const dials = 300
	answered, closed := 0, 0
	held := make([]net.Conn, 0, dials)
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for range dials {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		ok, err := testkit.AskHealth(c, 10*time.Second)
		var ne net.Error
		switch {
		case ok:
			answered++
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("connection %d hung: %v (%d answered, %d closed); stderr:\n%s",
				len(held), err, answered, closed, stderr.Tail(2000))
		default:
			closed++
		}
	}
	if answered > 224 || closed < dials-224 {
		t.Errorf("%d connections: %d answered, %d closed; want at most 224 answered", dials, answered, closed)
	}
	for _, c := range held {
		c.Close()
	}
	held = held[:0]
	testkit.EventuallyNil(t, 10*time.Second, "health answers again", func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if ok, err := testkit.AskHealth(c, 10*time.Second); !ok {
			return errors.Join(errors.New("no answer"), err)
		}
		return nil
	})
	if strings.Count(stderr.String(), "too many open files") > 2 {
		t.Errorf("the node ran out of descriptors:\n%s", stderr.Tail(2000))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := <-exited; err != nil {
		t.Errorf("serve after SIGTERM: %v; stderr:\n%s", err, stderr.Tail(2000))
	}
}

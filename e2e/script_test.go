package e2e_test

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// nodeScript is a Node.js program under e2e/browser that drives Chromium:
// the test writes to its stdin, it reports in lines on stdout, and its
// stderr is kept to show when the test fails.
type nodeScript struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // stdout, a line at a time; closed at its end
	stderr *testkit.Buffer
	exited chan struct{}
	err    error // how it exited; read once exited is closed
}

// startNodeScript runs nodeJS with args from the directory dir. When ctx
// ends the script gets SIGTERM, which lets playwright close Chromium;
// WaitDelay bounds how long that may take before everything is killed. At
// the test's end stdin is closed, which tells the script to finish, and it
// is killed if it has not within 30s; its stderr, under name, is logged if
// the test failed or runs verbose.
func startNodeScript(ctx context.Context, t *testing.T, name, nodeJS, dir string, args ...string) *nodeScript {
	t.Helper()
	s := &nodeScript{lines: make(chan []byte, 256), stderr: &testkit.Buffer{}, exited: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, nodeJS, args...)
	s.cmd.Dir = dir
	s.cmd.Stderr = s.stderr
	s.cmd.Cancel = func() error { return s.cmd.Process.Signal(syscall.SIGTERM) }
	s.cmd.WaitDelay = 15 * time.Second
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20) // a result can list every offset
		for sc.Scan() {
			s.lines <- slices.Clone(sc.Bytes())
		}
		close(s.lines)
		s.err = s.cmd.Wait()
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("%s stderr:\n%s", name, s.stderr)
		}
	})
	return s
}

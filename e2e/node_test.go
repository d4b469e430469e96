package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// binary is the switchboard executable built once for the package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testkit.RunWithSwitchboard(m, &binary, "-race"))
}

// node is one switchboard process on a loopback port.
type node struct {
	t      *testing.T
	URL    string // http://127.0.0.1:port
	WS     string // ws://127.0.0.1:port/connection/websocket
	APIKey string

	cmd    *exec.Cmd
	logs   *testkit.Buffer
	exited chan struct{}
	err    error
}

var demoURL = regexp.MustCompile(`demo:\s+(https?://\S+)/`)

// startNode runs `switchboard serve` on a free port with args added, waits
// until it is ready, and stops it (SIGTERM, expecting a clean exit) at
// cleanup.
func startNode(t *testing.T, args ...string) *node {
	t.Helper()
	return startNodeBinary(t, binary, args...)
}

// startNodeBinary is startNode with another build of switchboard.
func startNodeBinary(t *testing.T, bin string, args ...string) *node {
	t.Helper()
	n := &node{t: t, APIKey: "e2e-key", logs: &testkit.Buffer{}, exited: make(chan struct{})}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--api-key", n.APIKey, "--log-level", "warn"}, args...)
	n.cmd = exec.Command(bin, all...)
	n.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1 atexit_sleep_ms=0")
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = n.logs
	// A wrapper script written by a test may still be open for writing in
	// a child that another parallel test is forking (golang.org/issue/22315):
	// exec then fails with ETXTBSY until that child has exec'd too.
	for tries := 0; ; tries++ {
		err := n.cmd.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ETXTBSY) || tries == 50 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		cmd := exec.Command(bin, all...)
		cmd.Env, cmd.Stderr = n.cmd.Env, n.cmd.Stderr
		if stdout, err = cmd.StdoutPipe(); err != nil {
			t.Fatal(err)
		}
		n.cmd = cmd
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			n.logs.Write([]byte(line + "\n"))
			if m := demoURL.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		n.err = n.cmd.Wait()
		close(n.exited)
	}()
	select {
	case n.URL = <-found:
	case <-n.exited:
		t.Fatalf("node exited at start: %v\n%s", n.err, n.logs)
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		t.Fatalf("node printed no URL within 30s\n%s", n.logs)
	}
	n.WS = "ws" + strings.TrimPrefix(n.URL, "http") + "/connection/websocket"
	t.Cleanup(n.stop)
	return n
}

// stop ends the node with SIGTERM and checks it exits cleanly.
func (n *node) stop() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		if n.err != nil {
			n.t.Errorf("node exited with %v\n%s", n.err, n.logs)
		}
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("node did not stop within 30s of SIGTERM\n%s", n.logs)
	}
}

// api calls the HTTP API and decodes the JSON answer into out.
func (n *node) api(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "apikey "+n.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type published struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

func (n *node) publish(ctx context.Context, channel string, data any) (published, error) {
	var p published
	err := n.api(ctx, http.MethodPost, "/api/publish", map[string]any{"channel": channel, "data": data}, &p)
	return p, err
}

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// cleanEnv is the test's environment without SWITCHBOARD_* variables, so a
// developer's settings cannot change what the binary does.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

var (
	apiLine = regexp.MustCompile(`^\s*api:\s+(http://\S+)/api/\s*$`)
	keyLine = regexp.MustCompile(`^\s*api key:\s+(\S+)\s*$`)
)

// TestSmoke builds the binary, serves on a free port, uses the printed URL
// and API key, and checks that SIGTERM, or SIGINT (Ctrl-C), ends it cleanly
// with exit status 0.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "switchboard")
	if err := testkit.BuildSwitchboard(bin); err != nil {
		t.Fatal(err)
	}
	t.Run("SIGTERM", func(t *testing.T) { smoke(t, bin, syscall.SIGTERM, "text") })
	t.Run("SIGINT", func(t *testing.T) { smoke(t, bin, syscall.SIGINT, "json") })
}

func smoke(t *testing.T, bin string, sig syscall.Signal, logFormat string) {
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--shutdown-drain", "200ms", "--log-format", logFormat)
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
	lines := make(chan string, 100)
	go func() {
		// Read stdout to its end before Wait, as os/exec requires.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			for range lines {
			}
			<-exited
		}
	})

	var base, key string
	deadline := time.After(30 * time.Second)
	for base == "" || key == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before printing its URLs; stderr:\n%s", stderr.String())
			}
			if m := apiLine.FindStringSubmatch(line); m != nil {
				base = m[1]
			}
			if m := keyLine.FindStringSubmatch(line); m != nil {
				key = m[1]
			}
		case <-deadline:
			t.Fatalf("serve printed no URL and key in time; stderr:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	req, _ := http.NewRequest("POST", base+"/api/publish", strings.NewReader(`{"channel":"chat:lobby","data":{"text":"hi"}}`))
	req.Header.Set("Authorization", "apikey "+key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pos struct {
		Epoch  string
		Offset uint64
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &pos) != nil || pos.Offset != 1 || pos.Epoch == "" {
		t.Fatalf("publish: %d %s", resp.StatusCode, body)
	}

	// The publish command against the same node.
	pub := exec.Command(bin, "publish", "--url", base, "--api-key", key, "chat:lobby", `{"text":"again"}`)
	pub.Env = cleanEnv()
	out, err := pub.Output()
	if err != nil || !strings.Contains(string(out), `"offset":2`) {
		t.Errorf("switchboard publish: %v: %s", err, out)
	}
	pub = exec.Command(bin, "publish", "--url", base, "--api-key", "wrong", "chat:lobby", `1`)
	pub.Env = cleanEnv()
	out, err = pub.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "error 101") {
		t.Errorf("publish with a wrong key: %v: %s", err, out)
	}

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Fatalf("serve after %v: %v (want exit status 0); stderr:\n%s", sig, err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit after %v; stderr:\n%s", sig, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutdown complete") {
		t.Errorf("no clean shutdown in the log:\n%s", stderr.String())
	}
	if logFormat != "json" {
		return
	}
	// Durations in a JSON log read as they were configured, not in
	// nanoseconds.
	var shutdown struct {
		Msg   string `json:"msg"`
		Drain any    `json:"drain"`
	}
	for line := range strings.Lines(stderr.String()) {
		if json.Unmarshal([]byte(line), &shutdown) == nil && shutdown.Msg == "shutting down" {
			break
		}
	}
	if shutdown.Drain != "200ms" {
		t.Errorf("shutting down: drain = %#v, want \"200ms\"; log:\n%s", shutdown.Drain, stderr.String())
	}
}

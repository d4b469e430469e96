package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/auth"
)

// runCmd runs one command line and returns its exit code and output.
func runCmd(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, &out, &errOut, environ)
	return code, out.String(), errOut.String()
}

func TestToken(t *testing.T) {
	const secret = "token-test-secret"
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	code, out, errOut := runCmd(t, nil, "token", "--secret", secret, "--sub", "alice",
		"--channels", "private:alice,team:*", "--ttl", "2h", "--info", `{"name":"Alice"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	id, err := v.Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("the minted token does not verify: %v", err)
	}
	if id.User != "alice" {
		t.Errorf("user %q", id.User)
	}
	if diff := cmp.Diff([]string{"private:alice", "team:*"}, id.Channels); diff != "" {
		t.Errorf("channels (-want +got):\n%s", diff)
	}
	var info map[string]string
	if err := json.Unmarshal(id.Info, &info); err != nil || info["name"] != "Alice" {
		t.Errorf("info %s", id.Info)
	}
	if until := time.Until(id.ExpiresAt); until < time.Hour || until > 2*time.Hour+time.Minute {
		t.Errorf("expires in %s, want about 2h", until)
	}

	// The secret may come from the environment, as the node's does.
	code, out, errOut = runCmd(t, []string{"SWITCHBOARD_TOKEN__HMAC_SECRETS=" + secret + ",older"}, "token", "--sub", "bob", "--ttl", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	id, err = v.Verify(strings.TrimSpace(out))
	if err != nil || id.User != "bob" || !id.ExpiresAt.IsZero() {
		t.Errorf("token from env secret: %+v, %v", id, err)
	}
}

// A node whose config names an issuer and an audience accepts the tokens
// `switchboard token` mints: with --iss and --aud, or, without them, with
// the token.issuer and token.audience of the same config.
func TestTokenIssuerAudience(t *testing.T) {
	const secret = "token-test-secret"
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: []string{secret},
		Issuer: "https://id.example.com", Audience: "switchboard"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	code, out, errOut := runCmd(t, nil, "token", "--secret", secret, "--sub", "alice",
		"--iss", "https://id.example.com", "--aud", "switchboard")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if id, err := v.Verify(strings.TrimSpace(out)); err != nil || id.User != "alice" {
		t.Errorf("token minted with --iss and --aud: %+v, %v", id, err)
	}

	env := []string{
		"SWITCHBOARD_TOKEN__HMAC_SECRETS=" + secret,
		"SWITCHBOARD_TOKEN__ISSUER=https://id.example.com",
		"SWITCHBOARD_TOKEN__AUDIENCE=switchboard",
	}
	code, out, errOut = runCmd(t, env, "token", "--sub", "bob")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if id, err := v.Verify(strings.TrimSpace(out)); err != nil || id.User != "bob" {
		t.Errorf("token minted under a config with an issuer and audience: %+v, %v", id, err)
	}
	// A flag wins over the config.
	code, out, errOut = runCmd(t, env, "token", "--sub", "carol", "--iss", "someone-else")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := v.Verify(strings.TrimSpace(out)); err == nil || !strings.Contains(err.Error(), `wrong issuer "someone-else"`) {
		t.Errorf("token minted with --iss someone-else: err %v, want wrong issuer", err)
	}
}

func TestTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--sub", "a"}, "no secret"},
		{[]string{"token", "--secret", "s"}, "--sub is required"},
		{[]string{"token", "--secret", "s", "--sub", "a", "--info", "[1]"}, "--info must be a JSON object"},
		{[]string{"token", "--secret", "s", "--sub", "a", "--ttl", "-1h"}, "--ttl must not be negative"},
		{[]string{"token", "--secret", "s", "--sub", "a", "--alg", "RS256"}, "RS256"},
	} {
		code, _, errOut := runCmd(t, nil, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "switchboard ") {
		t.Errorf("exit %d: %q", code, out)
	}
	old := version
	version = "v9.9.9"
	defer func() { version = old }()
	if _, out, _ := runCmd(t, nil, "version"); !strings.HasPrefix(out, "switchboard v9.9.9 ") {
		t.Errorf("with -X main.version: %q", out)
	}
	// --version and -v say the same as the version command.
	_, want, _ := runCmd(t, nil, "version")
	for _, flag := range []string{"--version", "-v"} {
		code, out, errOut := runCmd(t, nil, flag)
		if code != 0 || out != want {
			t.Errorf("switchboard %s: exit %d, %q (stderr %q); want %q", flag, code, out, errOut, want)
		}
	}
}

// TestServeRefusesBadConfig checks serve's own checks; each fails before
// anything listens.
func TestServeRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		environ []string
		want    string
	}{
		// Nothing listens on port 1: the node refuses to start, and the
		// password stays out of the message.
		{[]string{"--broker", "redis://user:hunter2@127.0.0.1:1"}, nil, `broker "redis://user:xxxxx@127.0.0.1:1" (--broker): redis broker: connect`},
		{[]string{"--broker", "nats://user:hunter2@127.0.0.1:1"}, nil, `broker "nats://user:xxxxx@127.0.0.1:1" (--broker): nats broker: connect`},
		{[]string{"--broker", "kafka"}, nil, "want memory"},
		{nil, []string{"SWITCHBOARD_LOG_LEVEL=loud"}, "log_level (SWITCHBOARD_LOG_LEVEL)"},
		{[]string{"--log-format", "xml"}, nil, "log_format (--log-format)"},
		{[]string{"--limits.message-size", "0"}, nil, "limits.message_size (--limits.message-size): must be positive"},
		{[]string{"--limits.connections", "-1"}, nil, "limits.connections (--limits.connections): must not be negative, got -1"},
		{nil, []string{"SWITCHBOARD_PING_INTERVAL=-1s"}, "ping_interval (SWITCHBOARD_PING_INTERVAL): must be positive"},
		{[]string{"--websocket.max-frame-size", "-1"}, nil, "websocket.max_frame_size (--websocket.max-frame-size): must be 0 or at least limits.message_size (65536, default), got -1"},
		{[]string{"--limits.message-size", "4096"}, []string{"SWITCHBOARD_WEBSOCKET__MAX_FRAME_SIZE=1024"},
			"websocket.max_frame_size (SWITCHBOARD_WEBSOCKET__MAX_FRAME_SIZE): must be 0 or at least limits.message_size (4096, --limits.message-size), got 1024"},
		{[]string{"--websocket.connect-timeout", "0"}, nil, "websocket.connect_timeout (--websocket.connect-timeout): must be positive, got 0s"},
		{nil, []string{"SWITCHBOARD_SSE__RETRY=-2s"}, "sse.retry (SWITCHBOARD_SSE__RETRY): must be positive, got -2s"},
		{[]string{"--poll.max-timeout", "0"}, nil, "poll.max_timeout (--poll.max-timeout): must be positive"},
		{[]string{"--poll.default-timeout", "90s"}, nil, "poll.default_timeout (--poll.default-timeout): must not be over poll.max_timeout (1m0s, default), got 1m30s"},
		{[]string{"--default-namespace.publish", "everyone"}, nil, `access "everyone"`},
		{[]string{"--allowed-origins", "not a url"}, nil, "allowed_origins"},
		{[]string{"--token.public-key-files", "/nonexistent.pem"}, nil, "nonexistent.pem"},
		{[]string{"--no-such-flag"}, nil, "unknown flag"},
		{[]string{"extra"}, nil, "unknown command"},
	} {
		code, _, errOut := runCmd(t, tc.environ, append([]string{"serve"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v %v: exit %d, stderr %q, want %q", tc.args, tc.environ, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("the broker password was printed: %q", errOut)
		}
	}
}

func TestPublishNeedsKeyAndJSON(t *testing.T) {
	code, _, errOut := runCmd(t, nil, "publish", "chat:a", "1")
	if code == 0 || !strings.Contains(errOut, "no API key") {
		t.Errorf("no key: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd(t, nil, "publish", "--api-key", "k", "chat:a", "not json")
	if code == 0 || !strings.Contains(errOut, "DATA must be one JSON value") {
		t.Errorf("bad data: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd(t, nil, "publish", "--api-key", "k", "chat:a")
	if code == 0 || !strings.Contains(errOut, "accepts 2 arg") {
		t.Errorf("one argument: exit %d, %q", code, errOut)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://localhost:6379":          "redis://localhost:6379",
		"redis://user:secret@host:6379/0": "redis://user:xxxxx@host:6379/0",
		"redis://user@host":               "redis://user@host",
		"memory":                          "memory",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

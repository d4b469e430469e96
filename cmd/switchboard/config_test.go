package main

// These tests are in package main because a command cannot be imported;
// they drive it through loadConfig and run, as a user would through the
// binary (smoke_test.go runs the binary itself).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveFlags returns serve's flag set after parsing args.
func serveFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addSettingFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDefaults(t *testing.T) {
	cfg, err := loadConfig("", nil, serveFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	want := limits{
		MessageSize:           64 << 10,
		ChannelsPerConnection: 128,
		QueueBytes:            1 << 20,
		ReplyBytes:            1 << 20,
		CommandsPerSecond:     100,
		CommandBurst:          200,
		HTTPRequestsPerSecond: 100,
		HTTPRequestBurst:      200,
		Connections:           0, // derived from the open-file limit at start
		MaxRecovery:           10_000,
		KeysPerChannel:        10_000,
		KeyBytes:              64 << 20,
	}
	if diff := cmp.Diff(want, cfg.Limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	if cfg.Addr != ":8000" || cfg.Broker != "memory" || cfg.APIKey != "" || cfg.PingInterval != 25*time.Second ||
		cfg.ShutdownDrain != 5*time.Second || cfg.LogLevel != "info" || cfg.LogFormat != "text" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.HTTP != (server.HTTPConfig{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}) {
		t.Errorf("http defaults: %+v", cfg.HTTP)
	}
	if diff := cmp.Diff(demoNamespaces(), cfg.Namespaces); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	wantDef := stream.Namespace{HistorySize: 1000, HistoryTTL: time.Hour, Subscribe: "anyone", Publish: "nobody"}
	if diff := cmp.Diff(wantDef, cfg.DefaultNamespace); diff != "" {
		t.Errorf("default namespace (-want +got):\n%s", diff)
	}
	if cfg.Token.Leeway != 5*time.Second || cfg.Token.JWKSRefresh != time.Hour {
		t.Errorf("token defaults: %+v", cfg.Token)
	}
	// The transports' own defaults, said where an operator sees them.
	if diff := cmp.Diff(server.WebSocketConfig{ConnectTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}, cfg.WebSocket); diff != "" {
		t.Errorf("websocket (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(server.SSEConfig{Retry: 2 * time.Second, WriteTimeout: 10 * time.Second}, cfg.SSE); diff != "" {
		t.Errorf("sse (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(server.PollConfig{DefaultTimeout: 25 * time.Second, MaxTimeout: time.Minute}, cfg.Poll); diff != "" {
		t.Errorf("poll (-want +got):\n%s", diff)
	}
	// The demo namespaces are valid.
	if _, err := stream.NewNamespaces(cfg.DefaultNamespace, cfg.Namespaces); err != nil {
		t.Error(err)
	}
}

// TestPrecedence sets one value in every combination of sources and checks
// that the strongest wins: flag > env > file > default.
func TestPrecedence(t *testing.T) {
	type sources struct{ file, env, flag bool }
	for _, tc := range []struct {
		in   sources
		want string
	}{
		{sources{}, "default"},
		{sources{file: true}, "file"},
		{sources{env: true}, "env"},
		{sources{flag: true}, "flag"},
		{sources{file: true, env: true}, "env"},
		{sources{file: true, flag: true}, "flag"},
		{sources{env: true, flag: true}, "flag"},
		{sources{file: true, env: true, flag: true}, "flag"},
	} {
		name := fmt.Sprintf("file=%v,env=%v,flag=%v", tc.in.file, tc.in.env, tc.in.flag)
		t.Run(name, func(t *testing.T) {
			// Each source gives its own value for a string, a nested int,
			// a duration and a list.
			values := map[string]struct {
				Addr    string
				Size    int
				Ping    time.Duration
				Origins []string
			}{
				"default": {":8000", 64 << 10, 25 * time.Second, []string{}},
				"file":    {":1001", 1001, 1 * time.Second, []string{"https://file.example"}},
				"env":     {":1002", 1002, 2 * time.Second, []string{"https://env.example", "https://*.env.example"}},
				"flag":    {":1003", 1003, 3 * time.Second, []string{"https://flag.example"}},
			}
			var path string
			if tc.in.file {
				path = writeFile(t, "c.yaml", `
addr: ":1001"
ping_interval: 1s
allowed_origins: ["https://file.example"]
limits:
  message_size: 1001
`)
			}
			var environ []string
			if tc.in.env {
				environ = []string{
					"SWITCHBOARD_ADDR=:1002",
					"SWITCHBOARD_PING_INTERVAL=2s",
					"SWITCHBOARD_ALLOWED_ORIGINS=https://env.example, https://*.env.example",
					"SWITCHBOARD_LIMITS__MESSAGE_SIZE=1002",
					"UNRELATED=1",
				}
			}
			var args []string
			if tc.in.flag {
				args = []string{"--addr=:1003", "--ping-interval=3s", "--allowed-origins=https://flag.example", "--limits.message-size=1003"}
			}
			cfg, err := loadConfig(path, environ, serveFlags(t, args...))
			if err != nil {
				t.Fatal(err)
			}
			w := values[tc.want]
			got := values["default"]
			got.Addr, got.Size, got.Ping, got.Origins = cfg.Addr, cfg.Limits.MessageSize, cfg.PingInterval, cfg.AllowedOrigins
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("want the %s values (-want +got):\n%s", tc.want, diff)
			}
		})
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	path := writeFile(t, "c.yaml", "addr: \":7001\"\n")
	cfg, err := loadConfig("", []string{envConfig + "=" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":7001" {
		t.Errorf("addr %q, want :7001 from $%s", cfg.Addr, envConfig)
	}
	// --config wins over the variable.
	other := writeFile(t, "d.yaml", "addr: \":7002\"\n")
	cfg, err = loadConfig(other, []string{envConfig + "=" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":7002" {
		t.Errorf("addr %q, want :7002 from --config", cfg.Addr)
	}
}

func TestFullConfigFile(t *testing.T) {
	path := writeFile(t, "full.yaml", `
addr: 127.0.0.1:9000
api_key: "12345"
broker: memory
log_level: debug
log_format: json
allowed_origins:
  - https://app.example.com
ping_interval: 10s
shutdown_drain: 2s
shutdown_timeout: 30s
token:
  hmac_secrets: [one, two]
  issuer: https://id.example.com
  audience: switchboard
  leeway: 0
limits:
  message_size: 2048
  commands_per_second: 12.5
default_namespace:
  history_size: -1
  presence: true
  history: authenticated
namespaces:
  - name: orders
    history_size: 50
    history_ttl: 10m
    subscribe: claim
    publish: nobody
  - name: rooms
    join_leave: true
    publish: authenticated
`)
	cfg, err := loadConfig(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.APIKey != "12345" || cfg.LogFormat != "json" || cfg.ShutdownTimeout != 30*time.Second {
		t.Errorf("top level: %+v", cfg)
	}
	if diff := cmp.Diff([]string{"one", "two"}, cfg.Token.HMACSecrets); diff != "" {
		t.Errorf("hmac_secrets (-want +got):\n%s", diff)
	}
	if cfg.Token.Issuer != "https://id.example.com" || cfg.Token.Audience != "switchboard" || cfg.Token.Leeway != 0 {
		t.Errorf("token: %+v", cfg.Token)
	}
	if cfg.Limits.MessageSize != 2048 || cfg.Limits.CommandsPerSecond != 12.5 || cfg.Limits.Connections != 0 {
		t.Errorf("limits: %+v", cfg.Limits)
	}
	wantDef := stream.Namespace{HistorySize: -1, HistoryTTL: time.Hour, Presence: true, Subscribe: "anyone", Publish: "nobody", History: "authenticated"}
	if diff := cmp.Diff(wantDef, cfg.DefaultNamespace); diff != "" {
		t.Errorf("default namespace (-want +got):\n%s", diff)
	}
	want := []stream.Namespace{
		{Name: "orders", HistorySize: 50, HistoryTTL: 10 * time.Minute, Subscribe: "claim", Publish: "nobody"},
		{Name: "rooms", JoinLeave: true, Publish: "authenticated"},
	}
	if diff := cmp.Diff(want, cfg.Namespaces); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
}

func TestNoNamespaces(t *testing.T) {
	for _, text := range []string{"namespaces: []\n", "namespaces:\n"} {
		cfg, err := loadConfig(writeFile(t, "c.yaml", text), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Namespaces) != 0 {
			t.Errorf("%q: namespaces %v, want none", text, cfg.Namespaces)
		}
	}
	// A file that does not mention namespaces keeps the demo ones.
	cfg, err := loadConfig(writeFile(t, "c.yaml", "limits:\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Namespaces) != len(demoNamespaces()) {
		t.Errorf("namespaces %v, want the demo ones", cfg.Namespaces)
	}
}

// TestBadConfig checks that bad input names the key, the source and what is
// wrong.
func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string // YAML, or "" for no file
		environ []string
		want    []string
	}{
		{name: "unknown key", file: "adr: :80\n",
			want: []string{`unknown key "adr"`, `did you mean "addr"`, "config file"}},
		{name: "unknown nested key", file: "limits:\n  mesage_size: 5\n",
			want: []string{`unknown key "limits.mesage_size"`, `"limits.message_size"`}},
		{name: "section not a map", file: "limits: 5\n",
			want: []string{"limits must be a map of settings"}},
		{name: "int", file: "limits:\n  message_size: big\n",
			want: []string{"limits.message_size must be a whole number", `"big"`}},
		{name: "float for int", file: "limits:\n  connections: 1.5\n",
			want: []string{"limits.connections must be a whole number"}},
		{name: "bare duration", file: "ping_interval: 25\n",
			want: []string{"ping_interval must be a duration such as 25s"}},
		{name: "string", file: "api_key: 12345\n",
			want: []string{"api_key must be a string", "quote it"}},
		{name: "list", file: "allowed_origins: [1]\n",
			want: []string{"allowed_origins item 0 must be a string"}},
		{name: "bool", file: "default_namespace:\n  presence: maybe\n",
			want: []string{"default_namespace.presence must be true or false"}},
		{name: "syntax", file: "addr: [\n",
			want: []string{"config file", "yaml"}},
		{name: "several at once", file: "adr: 1\nlog_levle: x\n",
			want: []string{`"adr"`, `"log_levle"`}},
		{name: "namespaces not a list", file: "namespaces: {name: x}\n",
			want: []string{"namespaces must be a list"}},
		{name: "namespace unknown key", file: "namespaces:\n  - name: chat\n    publsh: anyone\n",
			want: []string{`namespaces[0] (chat): unknown key "publsh"`}},
		{name: "namespace without name", file: "namespaces:\n  - presence: true\n",
			want: []string{"namespaces[0]: name is required"}},
		{name: "namespace bad ttl", file: "namespaces:\n  - name: a\n    history_ttl: 60\n",
			want: []string{"namespaces[0] (a): history_ttl must be a duration"}},
		{name: "unknown env", environ: []string{"SWITCHBOARD_LIMITS_MESSAGE_SIZE=5"},
			want: []string{"unknown environment variable SWITCHBOARD_LIMITS_MESSAGE_SIZE", "SWITCHBOARD_LIMITS__MESSAGE_SIZE"}},
		{name: "env value", environ: []string{"SWITCHBOARD_LIMITS__CONNECTIONS=lots"},
			want: []string{"SWITCHBOARD_LIMITS__CONNECTIONS: must be a whole number"}},
		{name: "env duration", environ: []string{"SWITCHBOARD_SHUTDOWN_DRAIN=5"},
			want: []string{"SWITCHBOARD_SHUTDOWN_DRAIN: must be a duration"}},
		{name: "env namespaces", environ: []string{"SWITCHBOARD_NAMESPACES=chat"},
			want: []string{"namespaces can only be set in a config file"}},
		{name: "env lower case", environ: []string{"SWITCHBOARD_addr=:1"},
			want: []string{"unknown environment variable SWITCHBOARD_addr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			if tc.file != "" {
				path = writeFile(t, "bad.yaml", tc.file)
			}
			_, err := loadConfig(path, tc.environ, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil ||
		!strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestConfigErrorsAtOnce: every mistake of a config file is reported by
// one run of serve, as docs/config.md says, namespaces included.
func TestConfigErrorsAtOnce(t *testing.T) {
	path := writeFile(t, "four.yaml", `
adr: :80
namespaces:
  - name: chat
    publsh: anyone
  - presence: true
  - name: prices
    history_ttl: 60
  - name: feed
    subscribe: everyone
  - name: chat
  - name: a:b
`)
	code, _, errOut := runCmd(t, nil, "serve", "--config", path, "--addr", "127.0.0.1:0")
	if code == 0 {
		t.Fatal("serve accepted the file")
	}
	for _, want := range []string{
		`unknown key "adr"`,
		`namespaces[0] (chat): unknown key "publsh"`,
		`namespaces[1]: name is required`,
		`namespaces[2] (prices): history_ttl must be a duration`,
		`namespaces[3] (feed): subscribe: access "everyone" is not one of anyone, authenticated, claim, nobody`,
		`namespaces[4] (chat): defined twice (also namespaces[0])`,
		`namespaces[5] (a:b): name must be a valid channel name without ':'`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the error lacks %q; it says:\n%s", want, errOut)
		}
	}

	// Values that only serve checks, each of a right type, are reported
	// together too.
	path = writeFile(t, "three.yaml", "log_format: xml\nlimits:\n  message_size: 0\ndefault_namespace:\n  publish: everyone\n")
	code, _, errOut = runCmd(t, nil, "serve", "--config", path, "--addr", "127.0.0.1:0")
	if code == 0 {
		t.Fatal("serve accepted the file")
	}
	for _, want := range []string{`log_format`, `limits.message_size`, `access "everyone"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the error lacks %q; it says:\n%s", want, errOut)
		}
	}
}

func TestFlagNames(t *testing.T) {
	// Every key maps to one env var and one flag and back.
	seenEnv := map[string]bool{}
	for _, s := range settings {
		e := envName(s.key)
		if seenEnv[e] {
			t.Errorf("two settings share %s", e)
		}
		seenEnv[e] = true
		if keyOfEnv(e) != s.key {
			t.Errorf("%s maps back to %q, want %q", e, keyOfEnv(e), s.key)
		}
		if strings.Contains(s.key, "__") || strings.ToLower(s.key) != s.key {
			t.Errorf("key %q: lower case, no double underscore", s.key)
		}
	}
	if got := envName("limits.message_size"); got != "SWITCHBOARD_LIMITS__MESSAGE_SIZE" {
		t.Errorf("envName: %s", got)
	}
	if got := flagName("limits.message_size"); got != "limits.message-size" {
		t.Errorf("flagName: %s", got)
	}
}

// TestDocsComplete keeps docs/config.md in step with the settings.
func TestDocsComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		for _, name := range []string{"`" + s.key + "`", envName(s.key), "--" + flagName(s.key)} {
			if !strings.Contains(string(doc), name) {
				t.Errorf("docs/config.md does not mention %s", name)
			}
		}
	}
	for field := range namespaceFields {
		if !strings.Contains(string(doc), "`"+field+"`") {
			t.Errorf("docs/config.md does not mention the namespace field %s", field)
		}
	}
}

// TestTransportSettings sets every transport setting from each source in
// turn and checks that it reaches the node: into the config, and into what
// the transports do.
func TestTransportSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node per source")
	}
	want := struct {
		WebSocket server.WebSocketConfig
		SSE       server.SSEConfig
		Poll      server.PollConfig
	}{
		server.WebSocketConfig{MaxFrameSize: 2048, ConnectTimeout: 200 * time.Millisecond, WriteTimeout: 3 * time.Second},
		server.SSEConfig{Retry: 1234 * time.Millisecond, RetryJitter: -time.Second, WriteTimeout: 4 * time.Second},
		server.PollConfig{DefaultTimeout: 100 * time.Millisecond, MaxTimeout: 20 * time.Second},
	}
	// Every source sets limits.message_size too, so that the default frame
	// size (message size + 4 KiB) would accept the frame the node must
	// refuse below.
	for _, src := range []struct {
		name    string
		file    string
		environ []string
		args    []string
		source  string // where sse.retry comes from
	}{
		{name: "file", file: `
limits:
  message_size: 1024
websocket:
  max_frame_size: 2048
  connect_timeout: 200ms
  write_timeout: 3s
sse:
  retry: 1234ms
  retry_jitter: -1s
  write_timeout: 4s
poll:
  default_timeout: 100ms
  max_timeout: 20s
`, source: "config file"},
		{name: "env", environ: []string{
			"SWITCHBOARD_LIMITS__MESSAGE_SIZE=1024",
			"SWITCHBOARD_WEBSOCKET__MAX_FRAME_SIZE=2048",
			"SWITCHBOARD_WEBSOCKET__CONNECT_TIMEOUT=200ms",
			"SWITCHBOARD_WEBSOCKET__WRITE_TIMEOUT=3s",
			"SWITCHBOARD_SSE__RETRY=1234ms",
			"SWITCHBOARD_SSE__RETRY_JITTER=-1s",
			"SWITCHBOARD_SSE__WRITE_TIMEOUT=4s",
			"SWITCHBOARD_POLL__DEFAULT_TIMEOUT=100ms",
			"SWITCHBOARD_POLL__MAX_TIMEOUT=20s",
		}, source: "SWITCHBOARD_SSE__RETRY"},
		{name: "flag", args: []string{
			"--limits.message-size=1024",
			"--websocket.max-frame-size=2048",
			"--websocket.connect-timeout=200ms",
			"--websocket.write-timeout=3s",
			"--sse.retry=1234ms",
			"--sse.retry-jitter=-1s",
			"--sse.write-timeout=4s",
			"--poll.default-timeout=100ms",
			"--poll.max-timeout=20s",
		}, source: "--sse.retry"},
	} {
		t.Run(src.name, func(t *testing.T) {
			var path string
			if src.file != "" {
				path = writeFile(t, "c.yaml", src.file)
			}
			cfg, err := loadConfig(path, src.environ, serveFlags(t, src.args...))
			if err != nil {
				t.Fatal(err)
			}
			got := want
			got.WebSocket, got.SSE, got.Poll = cfg.WebSocket, cfg.SSE, cfg.Poll
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if s := cfg.source("sse.retry"); !strings.Contains(s, src.source) {
				t.Errorf("sse.retry from %q, want %q", s, src.source)
			}

			args := src.args
			if path != "" {
				args = append(args, "--config", path)
			}
			base := startServe(t, src.environ, args...)
			checkSSERetry(t, base, 1234)
			checkPollTimeouts(t, base)
			checkWebSocket(t, base)
		})
	}
}

// startServe runs `switchboard serve` in the test's process on a free port
// with args and environ, and returns its base URL. The test's cleanup stops
// it and checks that it exited cleanly.
func startServe(t *testing.T, environ []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr testkit.Buffer
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--shutdown-drain", "1ms"}, args...)
	exited := make(chan int, 1)
	go func() {
		code := run(ctx, args, pw, &stderr, environ)
		pw.Close()
		exited <- code
	}()
	bases := make(chan string, 1)
	go func() {
		// Read the banner to its end, so that serve never blocks on it.
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				bases <- m[1]
			}
		}
		close(bases)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("serve exited with %d; stderr:\n%s", code, stderr.String())
		}
	})
	select {
	case base, ok := <-bases:
		if !ok {
			t.Fatalf("serve exited before printing its URLs; stderr:\n%s", stderr.String())
		}
		return base
	case <-time.After(30 * time.Second):
		t.Fatalf("serve printed no URL in time; stderr:\n%s", stderr.String())
	}
	return ""
}

// checkSSERetry opens an SSE stream and checks the retry field it opens
// with.
func checkSSERetry(t *testing.T, base string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/connection/sse?channel=lab:settings", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("SSE stream: status %d", resp.StatusCode)
	}
	s := testkit.NewSSEStream(t, resp.Body)
	defer s.Close()
	for {
		if ev := s.Block(); ev.Retry >= 0 {
			if ev.Retry != want {
				t.Errorf("SSE stream opens with retry %d, want %d", ev.Retry, want)
			}
			return
		}
	}
}

// checkPollTimeouts checks poll.max_timeout (a longer hold is refused) and
// poll.default_timeout (a poll that asks for none, with nothing to answer,
// comes back before the client gives up at 10s, where the default 25s
// capped at max_timeout would hold it for 20s).
func checkPollTimeouts(t *testing.T, base string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(base + "/connection/poll?channel=lab:settings&timeout=30s")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "over the maximum of 20s") {
		t.Errorf("poll with timeout=30s: %d %s, want 400 over the maximum of 20s", resp.StatusCode, body)
	}
	resp, err = hc.Get(base + "/connection/poll?channel=lab:settings")
	if err != nil {
		t.Fatalf("poll without timeout, held past the client's own timeout: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("poll without timeout: %d %s", resp.StatusCode, body)
	}
}

// checkWebSocket checks websocket.max_frame_size (a frame over it is
// refused with code 112 while the default size would take it) and
// websocket.connect_timeout (a client that never sends connect is closed
// long before the default 10s).
func checkWebSocket(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	wsURL := base + "/connection/websocket"
	c, _, err := wsclient.Dial(ctx, wsURL, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := fmt.Sprintf(`{"id":1,"type":"connect","token":%q}`, strings.Repeat("x", 3000))
	if err := c.WriteText([]byte(big)); err != nil {
		t.Fatal(err)
	}
	_ = c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"code":112`) {
		t.Errorf("a frame of %d bytes: %s, %v; want error 112 (message too large)", len(big), msg, err)
	}

	idle, _, err := wsclient.Dial(ctx, wsURL, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_ = idle.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err = idle.ReadMessage()
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a client that sends no connect: %q, %v; want the node to close it after 200ms", msg, err)
	}
}

// TestKeyAndTokenSettings: the key store's bounds and token.require_exp
// come through like every other setting.
func TestKeyAndTokenSettings(t *testing.T) {
	cfg, err := loadConfig("", []string{"SWITCHBOARD_TOKEN__REQUIRE_EXP=true", "SWITCHBOARD_LIMITS__KEY_BYTES=1048576"},
		serveFlags(t, "--limits.keys-per-channel", "50"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Token.RequireExp || cfg.Limits.KeyBytes != 1<<20 || cfg.Limits.KeysPerChannel != 50 {
		t.Errorf("token.require_exp %v, limits %+v", cfg.Token.RequireExp, cfg.Limits)
	}
	cfg.Limits.KeysPerChannel = 0
	if err := checkServe(cfg); err == nil || !strings.Contains(err.Error(), "limits.keys_per_channel") {
		t.Errorf("checkServe with no keys per channel: %v", err)
	}
}

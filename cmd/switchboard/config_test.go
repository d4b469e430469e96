package main

// These tests are in package main because a command cannot be imported;
// they drive it through loadConfig and run, as a user would through the
// binary (smoke_test.go runs the binary itself).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

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
		CommandsPerSecond:     100,
		CommandBurst:          200,
		Connections:           100_000,
		MaxRecovery:           10_000,
	}
	if diff := cmp.Diff(want, cfg.Limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	if cfg.Addr != ":8000" || cfg.Broker != "memory" || cfg.APIKey != "" || cfg.PingInterval != 25*time.Second ||
		cfg.ShutdownDrain != 5*time.Second || cfg.LogLevel != "info" || cfg.LogFormat != "text" {
		t.Errorf("defaults: %+v", cfg)
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
	if cfg.Limits.MessageSize != 2048 || cfg.Limits.CommandsPerSecond != 12.5 || cfg.Limits.Connections != 100_000 {
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

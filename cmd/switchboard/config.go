package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

// config is everything `switchboard serve` can be told. Its koanf tags are
// the setting keys of settings.go.
type config struct {
	Addr            string        `koanf:"addr"`
	APIKey          string        `koanf:"api_key"`
	Broker          string        `koanf:"broker"`
	BrokerTimeout   time.Duration `koanf:"broker_timeout"`
	LogLevel        string        `koanf:"log_level"`
	LogFormat       string        `koanf:"log_format"`
	AllowedOrigins  []string      `koanf:"allowed_origins"`
	PingInterval    time.Duration `koanf:"ping_interval"`
	PresenceTTL     time.Duration `koanf:"presence_ttl"`
	JoinLeave       time.Duration `koanf:"join_leave_interval"`
	JoinLeaveLimit  int           `koanf:"join_leave_limit"`
	DisconnectTTL   time.Duration `koanf:"disconnect_ttl"`
	ShutdownDelay   time.Duration `koanf:"shutdown_delay"`
	ShutdownDrain   time.Duration `koanf:"shutdown_drain"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	DebugEndpoints  bool          `koanf:"debug_endpoints"`
	DashboardFeed   string        `koanf:"dashboard_feed"`

	Token            auth.Config            `koanf:"token"`
	TLS              tlsFiles               `koanf:"tls"`
	Limits           limits                 `koanf:"limits"`
	HTTP             server.HTTPConfig      `koanf:"http"`
	WebSocket        server.WebSocketConfig `koanf:"websocket"`
	SSE              server.SSEConfig       `koanf:"sse"`
	Poll             server.PollConfig      `koanf:"poll"`
	DefaultNamespace stream.Namespace       `koanf:"default_namespace"`
	// Namespaces comes from the config file only; without one, the demo
	// namespaces.
	Namespaces []stream.Namespace `koanf:"-"`

	// sources says where each key's value came from, for error messages.
	sources map[string]string
}

type limits struct {
	MessageSize           int     `koanf:"message_size"`
	ChannelsPerConnection int     `koanf:"channels_per_connection"`
	QueueBytes            int     `koanf:"queue_bytes"`
	ReplyBytes            int     `koanf:"reply_bytes"`
	CommandsPerSecond     float64 `koanf:"commands_per_second"`
	CommandBurst          int     `koanf:"command_burst"`
	HTTPRequestsPerSecond float64 `koanf:"http_requests_per_second"`
	HTTPRequestBurst      int     `koanf:"http_request_burst"`
	Connections           int     `koanf:"connections"`
	MaxRecovery           int     `koanf:"max_recovery"`
	KeysPerChannel        int     `koanf:"keys_per_channel"`
	KeyBytes              int     `koanf:"key_bytes"`
}

// demoNamespaces are the namespaces of a node without a config file (or
// with one that does not say), so the demo pages work out of the box.
func demoNamespaces() []stream.Namespace {
	return []stream.Namespace{
		{Name: "chat", Publish: stream.AccessAnyone, Presence: true, JoinLeave: true},
		{Name: "dashboard", Publish: stream.AccessNobody},
		{Name: "lab", Publish: stream.AccessAnyone},
	}
}

// layer is one source's settings, converted to their types.
type layer struct {
	values map[string]any
	// name says where a key came from: "config file x.yaml", an env var,
	// a flag.
	name func(key string) string
}

// loadConfig reads the settings from, in rising precedence, the defaults,
// the config file (path, else $SWITCHBOARD_CONFIG, else none), the
// environment and the flags the user set in fs (nil: none). Unknown keys and
// values of the wrong type are errors naming the key and its source; every
// such problem is reported at once.
func loadConfig(path string, environ []string, fs *pflag.FlagSet) (*config, error) {
	if path == "" {
		path = lookupEnv(environ, envConfig)
	}
	var (
		layers     []layer
		errs       []error
		namespaces []stream.Namespace
		haveNS     bool
	)
	defaults := make(map[string]any, len(settings))
	for _, s := range settings {
		defaults[s.key] = s.def
	}
	layers = append(layers, layer{defaults, func(string) string { return "default" }})

	if path != "" {
		l, ns, ok, err := fileLayer(path)
		if err != nil {
			errs = append(errs, err)
		}
		layers = append(layers, l)
		namespaces, haveNS = ns, ok
	}
	l, err := envLayer(environ)
	if err != nil {
		errs = append(errs, err)
	}
	layers = append(layers, l)
	if fs != nil {
		l, err := flagLayer(fs)
		if err != nil {
			errs = append(errs, err)
		}
		layers = append(layers, l)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	final := make(map[string]any, len(settings))
	sources := make(map[string]string, len(settings))
	for _, l := range layers {
		for k, v := range l.values {
			final[k] = v
			sources[k] = l.name(k)
		}
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(final, "."), nil); err != nil {
		return nil, err
	}
	cfg := &config{sources: sources}
	// Every value already has its field's type, so this cannot fail on
	// user input.
	if err := k.UnmarshalWithConf("", cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.Namespaces = demoNamespaces()
	if haveNS {
		cfg.Namespaces = namespaces
	}
	return cfg, nil
}

// source names where key's value came from.
func (c *config) source(key string) string {
	if s, ok := c.sources[key]; ok {
		return s
	}
	return "default"
}

// fileLayer reads a YAML config file. ok reports whether it sets
// namespaces.
func fileLayer(path string) (l layer, ns []stream.Namespace, ok bool, err error) {
	where := fmt.Sprintf("config file %s", path)
	l = layer{values: map[string]any{}, name: func(string) string { return where }}
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		return l, nil, false, fmt.Errorf("%s: %w", where, err)
	}
	var errs []error
	nsMapReported := false
	all := k.All()
	for _, key := range slices.Sorted(maps.Keys(all)) {
		v := all[key]
		if key == namespacesKey {
			if v == nil {
				ns, ok = []stream.Namespace{}, true
				continue
			}
			list, nerr := decodeNamespaces(v)
			if nerr != nil {
				for _, e := range unjoin(nerr) {
					errs = append(errs, fmt.Errorf("%s: %w", where, e))
				}
				continue
			}
			ns, ok = list, true
			continue
		}
		if strings.HasPrefix(key, namespacesKey+".") {
			if !nsMapReported {
				errs = append(errs, fmt.Errorf("%s: namespaces must be a list of namespaces (\"- name: ...\"), got a map", where))
				nsMapReported = true
			}
			continue
		}
		s, known := lookupSetting(key)
		switch {
		case !known && isSection(key) && isEmpty(v):
			// "limits:" with nothing under it sets nothing.
		case !known && isSection(key):
			errs = append(errs, fmt.Errorf("%s: %s must be a map of settings, got %s", where, key, describe(v)))
		case !known:
			errs = append(errs, fmt.Errorf("%s: unknown key %q%s", where, key, suggest(key)))
		case v == nil:
			// "addr:" with no value leaves the default.
		default:
			cv, cerr := convert(s.def, v)
			if cerr != nil {
				errs = append(errs, fmt.Errorf("%s: %s %w", where, key, cerr))
				continue
			}
			l.values[key] = cv
		}
	}
	return l, ns, ok, errors.Join(errs...)
}

// unjoin returns the errors errors.Join joined into err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// envLayer reads SWITCHBOARD_* variables. Every one must name a setting:
// a typo in a variable name should not be silently ignored.
func envLayer(environ []string) (layer, error) {
	l := layer{values: map[string]any{}, name: envName}
	var errs []error
	k := koanf.New(".")
	p := env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if name == envConfig {
				return "", nil
			}
			key := keyOfEnv(name)
			s, ok := lookupSetting(key)
			switch {
			case key == namespacesKey:
				errs = append(errs, fmt.Errorf("%s: namespaces can only be set in a config file", name))
				return "", nil
			case !ok || envName(key) != name:
				errs = append(errs, fmt.Errorf("unknown environment variable %s%s", name, suggestEnv(key)))
				return "", nil
			}
			v, err := convert(s.def, value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return "", nil
			}
			return key, v
		},
	})
	if err := k.Load(p, nil); err != nil {
		return l, err
	}
	maps.Copy(l.values, k.All())
	return l, errors.Join(errs...)
}

// flagLayer reads the setting flags the user set; unset flags fall through
// to the file, the environment and the defaults.
func flagLayer(fs *pflag.FlagSet) (layer, error) {
	l := layer{values: map[string]any{}, name: func(key string) string { return "--" + flagName(key) }}
	byFlag := make(map[string]setting, len(settings))
	for _, s := range settings {
		byFlag[flagName(s.key)] = s
	}
	var errs []error
	k := koanf.New(".")
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		s, ok := byFlag[f.Name]
		if !ok || !f.Changed {
			return "", nil
		}
		v, err := convert(s.def, posflag.FlagVal(fs, f))
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
			return "", nil
		}
		return s.key, v
	})
	if err := k.Load(p, nil); err != nil {
		return l, err
	}
	maps.Copy(l.values, k.All())
	return l, errors.Join(errs...)
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// suggest names the setting a mistyped key probably meant.
func suggest(key string) string {
	if best := closest(key); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func suggestEnv(key string) string {
	if best := closest(key); best != "" {
		return " (did you mean " + envName(best) + "?)"
	}
	return ""
}

// closest returns the setting key nearest to key by edit distance, if it
// is near enough to be a typo.
func closest(key string) string {
	best, bestD := "", 4
	for _, s := range append(slices.Clone(settings), setting{key: namespacesKey}) {
		if d := distance(key, s.key); d < bestD {
			best, bestD = s.key, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tlsFiles names the certificate and key a node serves HTTPS with.
type tlsFiles struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// A setting is one configuration key. Every setting has exactly one name in
// each source, derived mechanically from its key so nobody has to look them
// up:
//
//	YAML   limits.message_size   (nested maps: limits: {message_size: ...})
//	env    SWITCHBOARD_LIMITS__MESSAGE_SIZE   (upper case; "__" nests)
//	flag   --limits.message-size              ("_" becomes "-")
//
// Key names use single underscores inside a word group and dots between
// levels, so the env form is unambiguous: a double underscore is always a
// level, a single one always part of a name.
type setting struct {
	key   string
	def   any // string, int, float64, bool, time.Duration or []string
	usage string
}

// settings lists every key but namespaces, which is a list of objects that
// only a config file can express. docs/config.md documents the same table.
var settings = []setting{
	{"addr", ":8000", "address to listen on, host:port"},
	{"api_key", "", "key for the HTTP API (Authorization: apikey <key>); generated and printed when empty"},
	{"broker", "memory", "broker: memory, redis://host:port/db or nats://host:port"},
	{"broker_timeout", 5 * time.Second, "how long the node waits for the broker to answer one request before it answers 503 (117)"},
	{"log_level", "info", "log level: debug, info, warn or error"},
	{"log_format", "text", "log format: text or json"},
	{"allowed_origins", []string{}, "browser origins allowed besides the node's own: https://app.example.com, https://*.example.com or *"},
	{"ping_interval", 25 * time.Second, "how often clients get a ping; a client that does not answer in time is dropped"},
	{"presence_ttl", 30 * time.Second, "how long a presence entry outlives its node or its last poll; nodes refresh theirs every third of it"},
	{"join_leave_interval", 100 * time.Millisecond, "join and leave events of a channel within this interval reach each subscriber as one push; negative: each pushed at once"},
	{"join_leave_limit", 1000, "a channel with more subscribers on the node than this gets no join and leave events (clients list its presence instead); -1: no limit"},
	{"disconnect_ttl", time.Hour, "after POST /api/disconnect, how long every node refuses the user's tokens issued before it"},
	{"shutdown_delay", time.Duration(0), "on shutdown, keep serving with /readyz answering 503 for this long before closing the listener (behind a load balancer or Kubernetes: 5s)"},
	{"shutdown_drain", 5 * time.Second, "on shutdown, tell clients to reconnect spread over this period"},
	{"shutdown_timeout", time.Duration(0), "upper bound on the whole shutdown; 0: shutdown_delay + shutdown_drain + 10s"},
	{"tls.cert_file", "", "PEM certificate (chain) to serve HTTPS, HTTP/2 and wss:// with; empty: plain HTTP"},
	{"tls.key_file", "", "PEM private key of tls.cert_file"},
	{"debug_endpoints", false, "serve /debug/gc and /debug/pprof/ (API key required), for measuring the node"},
	{"dashboard_feed", "dashboard:nodes", "channel the node publishes its own figures to ten times a second, for the demo dashboard (empty: off)"},

	{"token.hmac_secrets", []string{}, "secrets that verify HS256/HS384/HS512 client tokens (several allow rotation)"},
	{"token.public_keys", []string{}, "PEM public keys that verify RS/PS/ES/EdDSA client tokens"},
	{"token.public_key_files", []string{}, "files of PEM public keys that verify client tokens"},
	{"token.jwks_url", "", "URL of a JSON Web Key Set that verifies client tokens"},
	{"token.jwks_refresh", time.Hour, "how often the JWK Set is refetched"},
	{"token.issuer", "", "required token issuer (iss); empty: not checked"},
	{"token.audience", "", "required token audience (aud); empty: not checked"},
	{"token.leeway", 5 * time.Second, "clock skew allowed when checking token times"},
	{"token.require_exp", false, "refuse client tokens without an expiry (exp)"},

	{"limits.message_size", 64 << 10, "largest publication payload, bytes"},
	{"limits.channels_per_connection", 128, "most channels one connection may subscribe to"},
	{"limits.queue_bytes", 1 << 20, "most bytes queued to one slow client before it is disconnected (it resumes later)"},
	{"limits.reply_bytes", 1 << 20, "most bytes of publications in one history reply; a longer one is cut (page on with since)"},
	{"limits.commands_per_second", 100.0, "commands per second one connection may send, on average"},
	{"limits.command_burst", 200, "commands one connection may send at once"},
	{"limits.http_requests_per_second", 100.0, "requests per second one client may make of POST /connection/publish, GET /connection/history and /connection/presence together, on average"},
	{"limits.http_request_burst", 200, "requests one client may make of those endpoints at once"},
	{"limits.connections", 0, "most client sessions this node holds; 0: the open-file limit less a reserve of 5% (at least 64) for health, metrics, the API and the process"},
	{"limits.max_recovery", 10_000, "most publications replayed to a resuming subscriber; a longer gap answers recovered: false"},
	{"limits.keys_per_channel", 10_000, "most idempotency keys one channel remembers at once (memory broker); a new key beyond is refused (code 110)"},
	{"limits.key_bytes", 64 << 20, "most bytes all idempotency keys of the node hold (memory broker); a new key beyond is refused (code 110)"},

	{"http.read_timeout", 10 * time.Second, "how long a request body (client publish, HTTP API) may take to arrive; a slower one gets 408 and its connection closed"},
	{"http.write_timeout", 10 * time.Second, "longest a reply that is not a stream (a poll's answer, history, the HTTP API) may take to write; a slower client has its connection closed"},
	{"websocket.max_frame_size", 0, "largest frame a WebSocket client may send, bytes; 0: limits.message_size + 4096"},
	{"websocket.connect_timeout", 10 * time.Second, "how long a WebSocket client has to send connect after the upgrade"},
	{"websocket.write_timeout", 10 * time.Second, "longest one write to a WebSocket client may take; a slower client is dropped"},
	{"sse.retry", 2 * time.Second, "reconnect delay sent to SSE clients in the retry: line"},
	{"sse.retry_jitter", time.Duration(0), "most random delay added to sse.retry, drawn for every stream; 0: sse.retry; negative: none"},
	{"sse.write_timeout", 10 * time.Second, "longest one write to an SSE client may take; a slower client is dropped"},
	{"poll.default_timeout", 25 * time.Second, "how long a long poll without a timeout parameter is held when there is nothing to answer"},
	{"poll.max_timeout", 60 * time.Second, "longest hold a poll may ask for; a longer timeout is refused (code 107)"},

	{"default_namespace.history_size", 1000, "publications kept per channel without a namespace; negative: none"},
	{"default_namespace.history_ttl", time.Hour, "how long publications stay in history; negative: no limit"},
	{"default_namespace.presence", false, "keep a list of each channel's subscribers"},
	{"default_namespace.join_leave", false, "send join and leave events to subscribers"},
	{"default_namespace.subscribe", "anyone", "who may subscribe: anyone, authenticated, claim or nobody"},
	{"default_namespace.publish", "nobody", "which clients may publish (the HTTP API always may): anyone, authenticated, claim or nobody"},
	{"default_namespace.history", "", "who may read history and presence; empty: as subscribe"},
}

const envPrefix = "SWITCHBOARD_"

// envConfig names the config file; it is not a setting because it says
// where the settings are.
const envConfig = envPrefix + "CONFIG"

// namespacesKey is the one key only a config file can set.
const namespacesKey = "namespaces"

func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// keyOfEnv maps an environment variable back to its key; the caller checks
// that the key exists.
func keyOfEnv(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, envPrefix), "__", "."))
}

func lookupSetting(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// isSection reports whether key is a level above some settings, such as
// "limits".
func isSection(key string) bool {
	if key == namespacesKey {
		return false
	}
	for _, s := range settings {
		if strings.HasPrefix(s.key, key+".") {
			return true
		}
	}
	return false
}

// addSettingFlags registers one flag per setting, with the setting's
// default shown in --help. Only flags the user sets are read (see load), so
// these defaults never mask a config file or the environment.
func addSettingFlags(fs *pflag.FlagSet) {
	for _, s := range settings {
		name := flagName(s.key)
		usage := s.usage + " (env " + envName(s.key) + ")"
		switch d := s.def.(type) {
		case string:
			fs.String(name, d, usage)
		case int:
			fs.Int(name, d, usage)
		case float64:
			fs.Float64(name, d, usage)
		case bool:
			fs.Bool(name, d, usage)
		case time.Duration:
			fs.Duration(name, d, usage)
		case []string:
			fs.StringSlice(name, d, usage+"; comma-separated or repeated")
		default:
			panic("setting " + s.key + ": unsupported type")
		}
	}
}

// convert turns a value from any source into the setting's type. Config
// files bring YAML types, the environment brings strings, flags bring
// typed values; each is accepted only where it means one thing.
func convert(def any, v any) (any, error) {
	switch def.(type) {
	case string:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("must be a string, got %s (quote it)", describe(v))
	case int:
		return toInt(v)
	case float64:
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		case uint64:
			return float64(n), nil
		case float64:
			return n, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, nil
			}
		}
		return nil, fmt.Errorf("must be a number, got %s", describe(v))
	case bool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
				return p, nil
			}
		}
		return nil, fmt.Errorf("must be true or false, got %s", describe(v))
	case time.Duration:
		switch d := v.(type) {
		case time.Duration:
			return d, nil
		case string:
			p, err := time.ParseDuration(strings.TrimSpace(d))
			if err == nil {
				return p, nil
			}
		case int:
			// A bare number is ambiguous (seconds? nanoseconds?); only 0
			// means the same in every unit.
			if d == 0 {
				return time.Duration(0), nil
			}
		}
		return nil, fmt.Errorf("must be a duration such as 25s, 500ms or 1h, got %s", describe(v))
	case []string:
		switch l := v.(type) {
		case []string:
			return l, nil
		case string:
			return splitList(l), nil
		case []any:
			out := make([]string, 0, len(l))
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("item %d must be a string, got %s", i, describe(e))
				}
				out = append(out, s)
			}
			return out, nil
		}
		return nil, fmt.Errorf("must be a list of strings, got %s", describe(v))
	}
	return nil, fmt.Errorf("unsupported setting type %T", def)
}

func toInt(v any) (any, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		if n >= math.MinInt && n <= math.MaxInt {
			return int(n), nil
		}
	case uint64:
		if n <= math.MaxInt {
			return int(n), nil
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), nil
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			return i, nil
		}
	}
	return nil, fmt.Errorf("must be a whole number, got %s", describe(v))
}

// splitList reads a list from one string: comma-separated, blanks dropped.
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%v", v)
}

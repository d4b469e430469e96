package auth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/stream"
)

// Origins is the allow-list of browser origins. It stops cross-site
// WebSocket hijacking (a page on another site opening a WebSocket that
// carries the user's cookies) and answers CORS for the HTTP transports.
//
// A request's own host is always allowed (same origin), and so is a request
// without an Origin header, which only non-browser clients send. Beyond that
// an origin must match a pattern:
//
//	"*"                        any origin, even "null"
//	"https://app.example.com"  that scheme, host and port
//	"https://*.example.com"    any subdomain, at any depth, not example.com itself
//
// Scheme and host compare case-insensitively; a missing port is the scheme's
// default (80 for http and ws, 443 for https and wss). Origins is immutable
// and safe for concurrent use; a nil *Origins allows the same origin only.
type Origins struct {
	any      bool
	patterns []originPattern
}

type originPattern struct {
	scheme string
	host   string // exact host, or the suffix ".example.com" when wild
	port   string
	wild   bool
}

// NewOrigins compiles patterns; an empty list allows the same origin only.
func NewOrigins(patterns []string) (*Origins, error) {
	o := &Origins{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		switch p {
		case "":
			continue
		case "*":
			o.any = true
			continue
		}
		pat, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("auth: origin pattern %q: %w", p, err)
		}
		o.patterns = append(o.patterns, pat)
	}
	return o, nil
}

func parsePattern(p string) (originPattern, error) {
	if !strings.Contains(p, "://") {
		return originPattern{}, fmt.Errorf("needs a scheme, as in https://%s", p)
	}
	// Tolerate the trailing slash people copy from the address bar.
	p = strings.TrimSuffix(p, "/")
	i := strings.Index(p, "://") + 3
	wild := strings.HasPrefix(p[i:], "*.")
	if wild {
		p = p[:i] + p[i+2:]
	}
	u, ok := parseOrigin(p)
	if !ok {
		return originPattern{}, fmt.Errorf("want scheme://host[:port], with an optional leading *. on the host")
	}
	pat := originPattern{scheme: u.scheme, host: u.host, port: u.port, wild: wild}
	if wild {
		if u.host[0] == '[' {
			return originPattern{}, fmt.Errorf("an IP address has no subdomains")
		}
		pat.host = "." + u.host
	}
	return pat, nil
}

// Check returns nil when a request with this Origin header may be served by
// this host (the request's Host), or an error wrapping
// stream.ErrOriginNotAllowed.
func (o *Origins) Check(origin, host string) error {
	if o.Allowed(origin, host) {
		return nil
	}
	return fmt.Errorf("%w: %q", stream.ErrOriginNotAllowed, clip(origin, 128))
}

// AllowsAny reports whether the list holds "*". CORS answers such a list
// without credentials: letting every site read a user's streams with the
// user's cookies would hand them to any page the user visits.
func (o *Origins) AllowsAny() bool { return o != nil && o.any }

// Allowed reports whether Check would return nil.
func (o *Origins) Allowed(origin, host string) bool {
	if origin == "" || (o != nil && o.any) {
		return true
	}
	u, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	if sameHost(u, host) {
		return true
	}
	if o == nil {
		return false
	}
	for _, p := range o.patterns {
		if p.scheme != u.scheme || p.port != u.port {
			continue
		}
		if p.wild {
			if len(u.host) > len(p.host) && strings.HasSuffix(u.host, p.host) {
				return true
			}
		} else if u.host == p.host {
			return true
		}
	}
	return false
}

// origin is a parsed Origin: lower-case scheme and host, and the effective
// port ("" only for a scheme without a known default).
type origin struct {
	scheme, host, port string
}

var defaultPorts = map[string]string{"http": "80", "ws": "80", "https": "443", "wss": "443"}

// parseOrigin reads the serialized origin a browser sends: scheme "://" host
// [":" port], and nothing else. Anything looser ("null", paths, user info) is
// refused, since a browser never sends it for a page that could be trusted.
func parseOrigin(s string) (origin, bool) {
	i := strings.Index(s, "://")
	if i <= 0 || !validScheme(s[:i]) {
		return origin{}, false
	}
	u := origin{scheme: strings.ToLower(s[:i])}
	host, port, ok := splitHostPort(s[i+3:])
	if !ok {
		return origin{}, false
	}
	u.host = host
	if port == "" {
		port = defaultPorts[u.scheme]
	}
	u.port = port
	return u, true
}

// splitHostPort splits "host[:port]" and checks both; the host comes back
// lower-cased, an IPv6 address in its brackets and canonical form.
func splitHostPort(hp string) (host, port string, ok bool) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", false
		}
		addr, err := netip.ParseAddr(hp[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", "", false
		}
		host, hp = "["+addr.String()+"]", hp[end+1:]
		if hp == "" {
			return host, "", true
		}
		if hp[0] != ':' {
			return "", "", false
		}
		port, ok = validPort(hp[1:])
		return host, port, ok
	}
	host = hp
	if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		host = hp[:i]
		if port, ok = validPort(hp[i+1:]); !ok {
			return "", "", false
		}
	}
	if !validHost(host) {
		return "", "", false
	}
	return strings.ToLower(host), port, true
}

// sameHost reports whether the origin names the host the request came to.
// The Host header carries no scheme, so a Host without a port matches an
// origin on its scheme's default port.
func sameHost(u origin, host string) bool {
	h, port, ok := splitHostPort(host)
	if !ok || h != u.host {
		return false
	}
	if port == "" {
		return u.port == defaultPorts[u.scheme]
	}
	return port == u.port
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // ASCII lower case; digits and +-. are unaffected
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// validHost accepts DNS names and IPv4 addresses: dot-separated, non-empty
// labels of ASCII letters, digits, '-' and '_'. Browsers send international
// names in punycode, so patterns must use it too.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i] | 0x20
			if !('a' <= c && c <= 'z' || '0' <= label[i] && label[i] <= '9' || label[i] == '-' || label[i] == '_') {
				return false
			}
		}
	}
	return true
}

// validPort returns a port in canonical form (no leading zeros).
func validPort(s string) (string, bool) {
	if s == "" || len(s) > 5 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return "", false
	}
	return strconv.Itoa(n), true
}

package transport

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Verifier turns a token into an identity; *auth.Verifier satisfies it.
type Verifier interface {
	Verify(token string) (stream.Identity, error)
}

// OriginChecker decides which browser origins may use a transport;
// *auth.Origins satisfies it.
type OriginChecker interface {
	Check(origin, host string) error
}

// DefaultTokenCookie is the cookie a token is read from when a transport
// names none.
const DefaultTokenCookie = "switchboard_token"

// Token returns the token a request carries: an "Authorization: Bearer"
// header first, then the "token" query parameter q (for EventSource, which
// can set no header), then the named cookie. Transports parse the query once
// and pass it to Token, Channels and Cursor.
func Token(r *http.Request, q url.Values, cookie string) string {
	if tok := BearerToken(r.Header); tok != "" {
		return tok
	}
	if t := q.Get("token"); t != "" {
		return t
	}
	if cookie == "" {
		cookie = DefaultTokenCookie
	}
	if c, err := r.Cookie(cookie); err == nil {
		return c.Value
	}
	return ""
}

// BearerToken returns the token of an "Authorization: Bearer" header, or
// "" when there is none. gRPC calls carry theirs only there (gRPC metadata
// are HTTP headers).
func BearerToken(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// Authenticate verifies a token. An empty token is an anonymous client; a
// token with no verifier configured is refused.
func Authenticate(v Verifier, token string) (stream.Identity, error) {
	if token == "" {
		return stream.Identity{}, nil
	}
	if v == nil {
		return stream.Identity{}, fmt.Errorf("%w: this node accepts no tokens", stream.ErrInvalidToken)
	}
	id, err := v.Verify(token)
	if err != nil {
		return stream.Identity{}, err
	}
	if !id.ExpiresAt.IsZero() && !time.Now().Before(id.ExpiresAt) {
		return stream.Identity{}, stream.ErrTokenExpired
	}
	return id, nil
}

// CheckOrigin applies the allow-list to the request's Origin header. A nil
// checker allows same-origin requests and requests with no Origin (clients
// that are not browsers).
func CheckOrigin(o OriginChecker, r *http.Request) error {
	return CheckOriginHost(o, r.Header.Get("Origin"), r.Host)
}

// CheckOriginHost is CheckOrigin for a request read without net/http: origin
// is its Origin header ("" when it has none), host its Host.
func CheckOriginHost(o OriginChecker, origin, host string) error {
	if o != nil {
		return o.Check(origin, host)
	}
	if origin == "" {
		return nil
	}
	for _, scheme := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(origin, scheme); ok && rest == host {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", stream.ErrOriginNotAllowed, origin)
}

// ClientCORSMethods is what a preflight for a client's HTTP endpoints (a
// poll, and the publish, presence and history endpoints) is told they take.
// They are usually mounted side by side and called from the same page, so
// each answers for all of them.
const ClientCORSMethods = "GET, POST, OPTIONS"

// CORS answers cross-origin requests for an HTTP transport. For an allowed
// Origin it sets the response headers (credentials included, so cookies
// work, unless the allow-list is the wildcard "*"); a preflight (OPTIONS) is answered in full and CORS reports true: the
// handler has nothing more to do. A disallowed origin gets a coded 403 and
// CORS reports true as well.
func CORS(w http.ResponseWriter, r *http.Request, o OriginChecker, methods string) (done bool) {
	return CORSHeaders(w, r, o, methods, "Authorization, Content-Type, Last-Event-ID", "")
}

// CORSHeaders is CORS for an endpoint whose requests carry other headers
// than a token, a body type and Last-Event-ID (gRPC-Web and Connect send
// their own): a preflight is told allow may be sent, and an answer lets the
// page read the response headers listed in expose ("" for none beyond the
// safelisted ones).
func CORSHeaders(w http.ResponseWriter, r *http.Request, o OriginChecker, methods, allow, expose string) (done bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	if err := CheckOrigin(o, r); err != nil {
		WriteError(w, err)
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	// Credentials (cookies) only for origins named in the allow-list: with
	// "*", any page could read a user's streams with the user's cookies.
	// Tokens in ?token= or a Bearer header still work.
	if a, ok := o.(interface{ AllowsAny() bool }); !ok || !a.AllowsAny() {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Add("Vary", "Origin")
	if expose != "" {
		h.Set("Access-Control-Expose-Headers", expose)
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", allow)
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// Channels reads the "channel" query parameters: at least one, at most max,
// each a valid name, no repeats.
func Channels(q url.Values, max int) ([]string, error) {
	chans := q["channel"]
	if len(chans) == 0 {
		return nil, fmt.Errorf("%w: at least one channel parameter is required", stream.ErrBadRequest)
	}
	if len(chans) > max {
		return nil, fmt.Errorf("%w: %d channels, at most %d per connection", stream.ErrLimitExceeded, len(chans), max)
	}
	seen := make(map[string]bool, len(chans))
	for _, ch := range chans {
		if err := stream.ValidateChannel(ch); err != nil {
			return nil, err
		}
		if seen[ch] {
			return nil, fmt.Errorf("%w: channel %q given twice", stream.ErrBadRequest, ch)
		}
		seen[ch] = true
	}
	return chans, nil
}

// Cursor reads a cursor from the "cursor" query parameter or, for SSE, the
// Last-Event-ID header (the header wins: it is what a reconnecting
// EventSource sends). No cursor is an empty one.
func Cursor(r *http.Request, q url.Values) (stream.Cursor, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = q.Get("cursor")
	}
	if s == "" {
		return stream.Cursor{}, nil
	}
	return stream.ParseCursor(s)
}

// Methods is the set of methods an endpoint answers. Build it once with
// NewMethods; it is safe for concurrent use.
type Methods struct {
	list  []string
	allow string // the Allow header: the list, comma-separated
}

// NewMethods returns the set of the methods given, in the order the Allow
// header will name them. Listing OPTIONS makes a plain OPTIONS request (not
// a CORS preflight, which CORS answers) an answer of its own: 204 with the
// Allow header.
func NewMethods(methods ...string) Methods {
	return Methods{list: methods, allow: strings.Join(methods, ", ")}
}

// Allow lets r through when its method is in the set. Otherwise it answers,
// and the handler has nothing more to do: a plain OPTIONS the set lists gets
// 204, any other method 405 with code 107 in the body, like every refusal;
// both carry the Allow header.
func (m Methods) Allow(w http.ResponseWriter, r *http.Request) bool {
	if slices.Contains(m.list, r.Method) && r.Method != http.MethodOptions {
		return true
	}
	if r.Method == http.MethodOptions && slices.Contains(m.list, http.MethodOptions) {
		w.Header().Set("Allow", m.allow)
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	MethodNotAllowed(w, r.Method, m.allow)
	return false
}

// MethodNotAllowed answers 405 with an Allow header and a coded body.
func MethodNotAllowed(w http.ResponseWriter, method, allow string) {
	w.Header().Set("Allow", allow)
	WriteErrorStatus(w, http.StatusMethodNotAllowed,
		fmt.Errorf("%w: method %s not allowed, use %s", stream.ErrBadRequest, method, allow))
}

// AddrKey names the client at a request's remote address for per-client
// budgets: an IPv4 address whole, an IPv6 one by its /64 (one host, or one
// customer's network, holds a whole /64 and could otherwise take as many
// budgets as it has addresses).
func AddrKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

package transport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/protocol"
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
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
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
	origin := r.Header.Get("Origin")
	if o != nil {
		return o.Check(origin, r.Host)
	}
	if origin == "" {
		return nil
	}
	for _, scheme := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(origin, scheme); ok && rest == r.Host {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", stream.ErrOriginNotAllowed, origin)
}

// CORS answers cross-origin requests for an HTTP transport. For an allowed
// Origin it sets the response headers (credentials included, so cookies
// work, unless the allow-list is the wildcard "*"); a preflight (OPTIONS) is answered in full and CORS reports true: the
// handler has nothing more to do. A disallowed origin gets a coded 403 and
// CORS reports true as well.
func CORS(w http.ResponseWriter, r *http.Request, o OriginChecker, methods string) (done bool) {
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
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// WriteError writes a coded JSON error with its HTTP status.
func WriteError(w http.ResponseWriter, err error) {
	WriteErrorStatus(w, protocol.ErrorFor(err).HTTPStatus(), err)
}

// WriteErrorStatus writes a coded JSON error with a status the code table
// would not pick (405 for a wrong method, 404 for an unknown path).
func WriteErrorStatus(w http.ResponseWriter, status int, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(protocol.AppendErrorBody(nil, protocol.ErrorFor(err)), '\n'))
}

// MethodNotAllowed answers 405 with an Allow header and a coded body.
func MethodNotAllowed(w http.ResponseWriter, method, allow string) {
	w.Header().Set("Allow", allow)
	WriteErrorStatus(w, http.StatusMethodNotAllowed,
		fmt.Errorf("%w: method %s not allowed, use %s", stream.ErrBadRequest, method, allow))
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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

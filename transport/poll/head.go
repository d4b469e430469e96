package poll

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// A kept connection's next request is read here rather than by
// http.ReadRequest, which builds a text reader, a line buffer and a
// header key for every line: a poll's head is a few short lines. Only the
// plainest heads are taken (see parseHead); anything else goes to
// net/http, which knows every rule.

// parseHead parses the request head b (up to and including its empty
// line) of a poll to path and returns it, or nil when the handler does not
// serve it itself: another method or path, another protocol version, a
// body, a request to close the connection or upgrade it, a header line
// that is not plain "Key: value", a control character anywhere, an
// absolute or escaped target, a Host that is missing, repeated or not
// plain.
func parseHead(b []byte, path string) *http.Request {
	r := &http.Request{URL: new(url.URL)}
	if !parseHeadInto(b, path, r, make(http.Header, 8)) {
		return nil
	}
	return r
}

// parseHeadInto is parseHead filling r, whose URL it reuses, and hdr,
// which must be empty: a kept connection reuses both from request to
// request (see conn.request). It reports false when the handler does not
// serve the head itself; r and hdr are then left in part.
func parseHeadInto(b []byte, path string, r *http.Request, hdr http.Header) bool {
	if !plainHead(b) {
		return false
	}
	line, rest, ok := cutLine(b)
	if !ok || len(line) < len("GET / HTTP/1.1") || !bytes.HasPrefix(line, []byte("GET ")) || !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
		return false
	}
	target := line[len("GET ") : len(line)-len(" HTTP/1.1")]
	if !bytes.HasPrefix(target, []byte(path)) || bytes.IndexByte(target, ' ') >= 0 || bytes.IndexByte(target, '#') >= 0 {
		return false
	}
	var query string
	switch tail := target[len(path):]; {
	case len(tail) == 0:
	case tail[0] == '?':
		query = string(tail[1:])
	default:
		return false
	}
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return false
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			return false // no key, or a folded line
		}
		key := headerKey(line[:colon])
		if key == "" {
			return false
		}
		hdr[key] = append(hdr[key], string(bytes.Trim(line[colon+1:], " \t")))
	}
	host := hdr["Host"]
	if len(host) != 1 || !plainHost(host[0]) {
		return false
	}
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Upgrade", "Expect"} {
		if hdr[k] != nil {
			return false
		}
	}
	if c := hdr["Connection"]; c != nil && (len(c) != 1 || !strings.EqualFold(c[0], "keep-alive")) {
		return false
	}
	delete(hdr, "Host")
	// As net/http does (RFC 7234, section 5.4).
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" && hdr["Cache-Control"] == nil {
		hdr["Cache-Control"] = []string{"no-cache"}
	}
	*r.URL = url.URL{Path: path, RawQuery: query}
	r.Method, r.Proto, r.ProtoMajor, r.ProtoMinor = http.MethodGet, "HTTP/1.1", 1, 1
	r.Header, r.Body, r.Host, r.RequestURI = hdr, http.NoBody, host[0], string(target)
	return true
}

// cutLine cuts the first line of b, ending in CRLF or LF, from the rest.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest, true
}

// commonKeys are the header keys a poll usually carries, in canonical
// form: one of them costs no allocation.
var commonKeys = []string{
	"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language",
	"Authorization", "Cookie", "Origin", "Referer", "Connection",
	"Cache-Control", "Pragma", "Last-Event-Id", "Sec-Fetch-Site",
	"Sec-Fetch-Mode", "Sec-Fetch-Dest", "Priority", "Dnt",
}

// headerKey returns k in canonical form, or "" when k is not a token (net/http
// refuses such a key).
func headerKey(k []byte) string {
	for _, c := range k {
		if !tokenChar(c) {
			return ""
		}
	}
	if i := slices.IndexFunc(commonKeys, func(s string) bool { return len(s) == len(k) && bytes.EqualFold([]byte(s), k) }); i >= 0 {
		return commonKeys[i]
	}
	return textproto.CanonicalMIMEHeaderKey(string(k))
}

// tokenChar reports whether c may appear in a header key (RFC 7230 tchar).
func tokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// plainHead reports whether a head has no control character but tabs and
// its line ends, CR only before LF (net/http refuses a header line with
// one).
func plainHead(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '\r':
			if i+1 == len(b) || b[i+1] != '\n' {
				return false
			}
		case c < ' ' && c != '\n' && c != '\t' || c == 0x7f:
			return false
		}
	}
	return true
}

// plainHost reports whether a Host is present and of the characters of a
// name, an IPv4 or IPv6 address and a port; any other goes to net/http,
// which has the whole rule.
func plainHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return h != ""
}

// appendHeader appends hdr and a Content-Length of n as net/http writes a
// handler's header that has one: keys sorted, one line per value, line
// breaks in values made spaces.
func appendHeader(dst []byte, hdr http.Header, n int) []byte {
	var arr [16]string
	keys := append(arr[:0], "Content-Length")
	for k := range hdr {
		if k != "Content-Length" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "Content-Length" {
			dst = append(dst, "Content-Length: "...)
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, "\r\n"...)
			continue
		}
		for _, v := range hdr[k] {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			start := len(dst)
			dst = append(dst, strings.TrimSpace(v)...)
			for i := start; i < len(dst); i++ {
				if dst[i] == '\r' || dst[i] == '\n' {
					dst[i] = ' '
				}
			}
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

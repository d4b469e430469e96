package ws

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net"

	"github.com/switchboardhq/switchboard/transport"
)

// Verdict is what [Handler.ServeHead] made of the bytes read so far from a
// new connection.
type Verdict int

const (
	// HeadIncomplete: the request head has not ended yet and may still be
	// an upgrade ServeHead takes; read more and ask again.
	HeadIncomplete Verdict = iota
	// HeadDeclined: not a request ServeHead takes. Nothing was written and
	// b is untouched: the caller hands the connection, with the bytes it
	// read, to net/http, where [Handler.ServeHTTP] (or whatever else the
	// request is for) answers it as it always has.
	HeadDeclined
	// HeadServed: the connection was upgraded and is the handler's now.
	HeadServed
)

// ServeHead serves a WebSocket upgrade whose request head was read straight
// from a new connection, without net/http: b holds the bytes read from nc so
// far, and path is where the handler is mounted. This is the common case
// made cheap — no request, header map, bufio buffers or goroutine of
// net/http's per connection, and the 101 is written with one write, or,
// when a whole frame came with the request, held back to go out with the
// first reply (see conn.head).
//
// ServeHead takes only a plain, well-formed upgrade: GET path (with any
// query) over HTTP/1.1, CRLF line ends, no body, each of the headers it
// reads given once, the checks [Handler.ServeHTTP] makes (the upgrade
// headers, then the origin) passed. Anything else is declined, as early
// as the bytes show it, so that every refusal, error code and odd request
// keeps net/http's answer, byte for byte. After HeadServed, ServeHead has
// overwritten b (with the 101) and the caller must not use nc.
func (h *Handler) ServeHead(nc net.Conn, path string, b []byte) Verdict {
	var r upgradeRequest
	v, end := parseUpgrade(b, path, &r)
	if v != HeadServed {
		return v
	}
	if !r.valid() {
		return HeadDeclined
	}
	if len(r.origin) > 0 || h.cfg.Origins != nil {
		if transport.CheckOriginHost(h.cfg.Origins, string(r.origin), string(r.host)) != nil {
			return HeadDeclined
		}
	}
	h.wg.Add(1) // before the 101: see Wait
	var accept [28]byte
	acceptKey(&accept, r.key)
	resp := b[:0]
	var pre []byte
	held := false
	if rest := b[end:]; len(rest) > 0 {
		// A client that sent its first frames with the request. When a
		// whole one is here, it did not wait for the 101, which then waits
		// to go out with the first reply, in one write (see conn.head).
		buf := make([]byte, switchingLen+len(rest))
		pre = buf[switchingLen:]
		copy(pre, rest)
		if wholeFrame(pre) {
			resp, held = buf[:0:switchingLen], true
		}
	}
	resp = append(resp, switching...)
	resp = append(resp, accept[:]...)
	resp = append(resp, "\r\n\r\n"...)
	if held {
		h.start(nc, pre, resp)
		return HeadServed
	}
	// The caller's read deadline bounded the head; the connect handshake
	// sets its own.
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		h.wg.Done()
		return HeadServed
	}
	h.start(nc, pre, nil)
	return HeadServed
}

// switching is the 101's head up to the accept key; switchingLen the
// whole 101's length.
const (
	switching    = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
	switchingLen = len(switching) + 28 + 4
)

// wholeFrame reports whether b begins with a whole frame, header and
// payload.
func wholeFrame(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	need := 2
	switch b[1] & 0x7f {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if b[1]&0x80 != 0 {
		need += 4
	}
	if len(b) < need {
		return false
	}
	var size uint64
	switch l := b[1] & 0x7f; l {
	case 126:
		size = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		size = binary.BigEndian.Uint64(b[2:])
	default:
		size = uint64(l)
	}
	return size <= uint64(len(b)-need)
}

// upgradeRequest is what ServeHead reads from a request head; the slices
// point into the caller's buffer.
type upgradeRequest struct {
	host, upgrade, connection, key, version, origin []byte
}

// valid makes the checks gobwas' HTTP upgrader makes, in its order; a
// request that fails one is declined, and net/http's path answers it with
// the upgrader's status.
func (r *upgradeRequest) valid() bool {
	return len(r.host) > 0 && validHost(r.host) &&
		bytes.EqualFold(r.upgrade, []byte("websocket")) &&
		hasToken(r.connection, "upgrade") &&
		len(r.key) == 24 &&
		string(r.version) == "13"
}

// headerSeen bits: a header given twice is declined.
const (
	seenHost = 1 << iota
	seenUpgrade
	seenConnection
	seenKey
	seenVersion
	seenOrigin
)

// parseUpgrade reads a request head from b. It returns HeadServed with the
// offset just past the head when b holds a whole head that ServeHead may
// take, HeadIncomplete when the head has not ended and nothing so far rules
// it out, and HeadDeclined otherwise.
func parseUpgrade(b []byte, path string, r *upgradeRequest) (Verdict, int) {
	// The request line: "GET " path ("?" query)? " HTTP/1.1" CRLF. Compare
	// what has arrived, so another request is handed on at once.
	const method = "GET "
	if !prefixSoFar(b, method) {
		return HeadDeclined, 0
	}
	if len(b) < len(method) {
		return HeadIncomplete, 0
	}
	t := b[len(method):]
	if !prefixSoFar(t, path) {
		return HeadDeclined, 0
	}
	if len(t) <= len(path) {
		return HeadIncomplete, 0
	}
	if c := t[len(path)]; c != ' ' && c != '?' {
		return HeadDeclined, 0
	}
	line, rest, ok := cutLine(b)
	if !ok {
		if bytes.IndexByte(b, '\n') >= 0 {
			return HeadDeclined, 0 // a bare LF
		}
		return HeadIncomplete, 0
	}
	target, proto, ok := bytes.Cut(line[len(method):], []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || !validTarget(target) {
		return HeadDeclined, 0
	}
	var seen int
	for {
		line, next, ok := cutLine(rest)
		if !ok {
			if bytes.IndexByte(rest, '\n') >= 0 {
				return HeadDeclined, 0
			}
			return HeadIncomplete, 0
		}
		if len(line) == 0 {
			return HeadServed, len(b) - len(next)
		}
		rest = next
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validName(name) || !validValue(value) {
			return HeadDeclined, 0
		}
		value = bytes.Trim(value, " \t")
		var dst *[]byte
		var bit int
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			dst, bit = &r.host, seenHost
		case bytes.EqualFold(name, []byte("Upgrade")):
			dst, bit = &r.upgrade, seenUpgrade
		case bytes.EqualFold(name, []byte("Connection")):
			dst, bit = &r.connection, seenConnection
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			dst, bit = &r.key, seenKey
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Version")):
			dst, bit = &r.version, seenVersion
		case bytes.EqualFold(name, []byte("Origin")):
			dst, bit = &r.origin, seenOrigin
		case bytes.EqualFold(name, []byte("Content-Length")),
			bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Expect")):
			return HeadDeclined, 0
		default:
			continue
		}
		if seen&bit != 0 {
			return HeadDeclined, 0
		}
		seen |= bit
		*dst = value
	}
}

// prefixSoFar reports whether b and s agree on their common length.
func prefixSoFar(b []byte, s string) bool {
	n := min(len(b), len(s))
	return string(b[:n]) == s[:n]
}

// cutLine cuts b at its first CRLF. A line holding a bare CR or LF is not
// ok either way: it has no CRLF before it, or the caller finds the LF.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, b, false
	}
	return b[:i], b[i+2:], true
}

// validTarget: the query has no controls, spaces or fragments; the path
// part was compared already.
func validTarget(t []byte) bool {
	for _, c := range t {
		if c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validName: an RFC 9110 token.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

// validValue: no control character but tab.
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost is stricter than net/http's check: letters, digits and what a
// name, an IPv4 or a bracketed IPv6 address and a port are made of.
func validHost(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok, ignoring
// case and the spaces around items.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.Trim(item, " \t"), []byte(tok)) {
			return true
		}
	}
	return false
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// acceptKey computes Sec-WebSocket-Accept for key (RFC 6455, 4.2.2).
func acceptKey(dst *[28]byte, key []byte) {
	const magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	var in [24 + len(magic)]byte
	copy(in[copy(in[:], key):], magic)
	sum := sha1.Sum(in[:])
	base64.StdEncoding.Encode(dst[:], sum[:])
}

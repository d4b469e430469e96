package protocol

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// syntaxError says where a frame stops being JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.off, e.msg)
}

// reader is the JSON scanner under DecodeCommand: it checks syntax exactly
// as encoding/json does and unescapes strings the same way, and leaves what
// each field means to decode.go.
type reader struct {
	b       []byte
	i       int
	depth   int
	typeErr *typeError // the first one; decoding goes on after it
	scratch [64]byte
}

func (r *reader) fail(msg string) error {
	if r.i >= len(r.b) {
		return &syntaxError{off: len(r.b), msg: "unexpected end"}
	}
	return &syntaxError{off: r.i, msg: fmt.Sprintf("%s, found %q", msg, r.b[r.i])}
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (r *reader) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// Objects are read with a loop rather than a callback, so that the reader
// and its scratch space stay on the stack: openObject, then key, the value
// and next for as long as next reports more.

// openObject reads the { of an object and reports whether a key follows.
func (r *reader) openObject() (bool, error) {
	return r.open('}')
}

func (r *reader) open(end byte) (bool, error) {
	if r.depth++; r.depth > maxDepth {
		return false, r.fail("nested too deep")
	}
	r.i++ // { or [
	r.ws()
	if r.peek() == end {
		r.i++
		r.depth--
		return false, nil
	}
	return true, nil
}

// key reads a key and its colon, leaving r at the value. The key points
// into scratch space, which the next string read overwrites.
func (r *reader) key() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.fail("want a key")
	}
	key, err := r.appendString(r.scratch[:0])
	if err != nil {
		return nil, err
	}
	r.ws()
	if r.peek() != ':' {
		return nil, r.fail("want ':' after a key")
	}
	r.i++
	r.ws()
	return key, nil
}

// next reads what follows a value in an object (end '}') or an array (end
// ']') and reports whether another value follows.
func (r *reader) next(end byte) (bool, error) {
	r.ws()
	switch r.peek() {
	case ',':
		r.i++
		r.ws()
		return true, nil
	case end:
		r.i++
		r.depth--
		return false, nil
	}
	return false, r.fail("want ',' or '" + string(end) + "'")
}

// skip reads any value.
func (r *reader) skip() error {
	switch c := r.peek(); {
	case c == '{':
		more, err := r.openObject()
		for more && err == nil {
			if _, err = r.key(); err == nil {
				if err = r.skip(); err == nil {
					more, err = r.next('}')
				}
			}
		}
		return err
	case c == '[':
		more, err := r.open(']')
		for more && err == nil {
			if err = r.skip(); err == nil {
				more, err = r.next(']')
			}
		}
		return err
	case c == '"':
		return r.skipString()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	}
	return r.fail("want a value")
}

func (r *reader) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if r.peek() != lit[k] {
			return r.fail("want " + lit)
		}
		r.i++
	}
	return nil
}

func (r *reader) digits() bool {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *reader) number() error {
	if r.peek() == '-' {
		r.i++
	}
	switch c := r.peek(); {
	case c == '0':
		r.i++
	case c >= '1' && c <= '9':
		r.digits()
	default:
		return r.fail("want a digit")
	}
	if r.peek() == '.' {
		r.i++
		if !r.digits() {
			return r.fail("want a digit")
		}
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.i++
		if c := r.peek(); c == '+' || c == '-' {
			r.i++
		}
		if !r.digits() {
			return r.fail("want a digit")
		}
	}
	return nil
}

// appendString reads a string and appends its unescaped value to dst.
func (r *reader) appendString(dst []byte) ([]byte, error) {
	r.i++ // "
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			dst = append(dst, r.b[start:r.i]...)
			r.i++
			return dst, nil
		case c == '\\':
			dst = append(dst, r.b[start:r.i]...)
			var err error
			if dst, err = r.appendEscape(dst); err != nil {
				return nil, err
			}
			start = r.i
		case c < ' ':
			return nil, r.fail("control character in a string")
		case c < utf8.RuneSelf:
			r.i++
		default:
			rn, size := utf8.DecodeRune(r.b[r.i:])
			if rn == utf8.RuneError && size == 1 {
				dst = append(dst, r.b[start:r.i]...)
				dst = utf8.AppendRune(dst, utf8.RuneError)
				start = r.i + 1
			}
			r.i += size
		}
	}
	return nil, r.fail("unterminated string")
}

// skipString reads a string without keeping it: data and unknown fields
// are only checked, not unescaped.
func (r *reader) skipString() error {
	r.i++ // "
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			return nil
		case c == '\\':
			r.i++
			switch r.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i++
			case 'u':
				if _, err := r.hex4(); err != nil {
					return err
				}
			default:
				return r.fail("unknown escape")
			}
		case c < ' ':
			return r.fail("control character in a string")
		default:
			r.i++
		}
	}
	return r.fail("unterminated string")
}

func (r *reader) appendEscape(dst []byte) ([]byte, error) {
	r.i++ // backslash
	c := r.peek()
	switch c {
	case '"', '\\', '/':
		r.i++
		return append(dst, c), nil
	case 'b':
		r.i++
		return append(dst, '\b'), nil
	case 'f':
		r.i++
		return append(dst, '\f'), nil
	case 'n':
		r.i++
		return append(dst, '\n'), nil
	case 'r':
		r.i++
		return append(dst, '\r'), nil
	case 't':
		r.i++
		return append(dst, '\t'), nil
	case 'u':
		rn, err := r.hex4()
		if err != nil {
			return nil, err
		}
		if utf16.IsSurrogate(rn) {
			// A pair decodes to one rune; anything else is a lone
			// surrogate, which becomes U+FFFD, and what follows it is read
			// on its own.
			save := r.i
			if r.peek() == '\\' && r.i+1 < len(r.b) && r.b[r.i+1] == 'u' {
				r.i++
				if lo, err := r.hex4(); err == nil {
					if dec := utf16.DecodeRune(rn, lo); dec != utf8.RuneError {
						return utf8.AppendRune(dst, dec), nil
					}
				}
			}
			r.i = save
			rn = utf8.RuneError
		}
		return utf8.AppendRune(dst, rn), nil
	}
	return nil, r.fail("unknown escape")
}

// hex4 reads the uXXXX of a \u escape, r at the u.
func (r *reader) hex4() (rune, error) {
	r.i++ // u
	if r.i+4 > len(r.b) {
		r.i = len(r.b)
		return 0, r.fail("")
	}
	var rn rune
	for k := 0; k < 4; k++ {
		c := r.b[r.i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, r.fail("want a hex digit")
		}
		rn = rn<<4 | rune(c)
		r.i++
	}
	return rn, nil
}

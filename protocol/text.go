package protocol

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/stream"
)

// CheckText refuses a client frame or request body that is not valid
// Unicode text: a byte sequence that is not UTF-8, or a \u escape of a lone
// UTF-16 surrogate (\ud800 not followed by a low surrogate, or a low one on
// its own), anywhere in b. The error wraps stream.ErrBadRequest and names
// the byte.
//
// encoding/json, and any decoder that matches it, turns both into U+FFFD,
// so that "\xff" and "\xfe" would arrive as the same string: two idempotency
// keys would collide, and a retried publication would answer duplicate for
// one it never stored. Refusing them (RFC 7493, I-JSON, asks the same) is
// the only way to keep every string a client sends exactly as it sent it.
// DecodeCommand applies it to every frame; the HTTP transports apply it to
// every JSON body before decoding it.
func CheckText(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: invalid UTF-8 at byte %d (a frame or body must be UTF-8 text)", stream.ErrBadRequest, invalidAt(b))
	}
	// Escapes only occur in strings, so finding every backslash finds every
	// \u escape; bytes.IndexByte keeps frames without any cheap.
	for i := 0; ; {
		k := bytes.IndexByte(b[i:], '\\')
		if k < 0 {
			return nil
		}
		i += k
		if i+1 >= len(b) {
			return nil // malformed JSON: the decoder says so
		}
		if b[i+1] != 'u' {
			i += 2 // \" \\ \n ...: the escaped byte is not a backslash
			continue
		}
		hi, ok := hex4At(b, i+2)
		switch {
		case !ok:
			return nil // malformed JSON: the decoder says so
		case hi >= 0xdc00 && hi <= 0xdfff:
			return loneSurrogate(hi, i)
		case hi >= 0xd800 && hi <= 0xdbff:
			lo, ok := rune(0), i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
			if ok {
				lo, ok = hex4At(b, i+8)
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return loneSurrogate(hi, i)
			}
			i += 12
		default:
			i += 6
		}
	}
}

func loneSurrogate(r rune, at int) error {
	return fmt.Errorf(`%w: lone surrogate \u%04x at byte %d (a string must be valid Unicode)`, stream.ErrBadRequest, r, at)
}

// invalidAt is the offset of the first byte of b that is not UTF-8.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// hex4At reads the four hex digits of a \u escape starting at b[i].
func hex4At(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

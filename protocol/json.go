package protocol

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/stream"
)

// The encoders write JSON by hand so that a frame costs no reflection and no
// allocation. These helpers are the only places that write strings and raw
// values, so every frame gets the same guarantees: valid JSON, valid UTF-8,
// no line breaks.

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string holds as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string, byte for byte as encoding/json
// writes it with HTML escaping off: invalid UTF-8 becomes \ufffd, control
// characters are escaped, and so are U+2028 and U+2029, which end a line in
// JavaScript source.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if plain[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendRaw appends v, which must hold one JSON value, as it is; empty v is
// null. Two repairs keep the frame usable whatever v holds: CR and LF are
// dropped (in valid JSON they can only be whitespace, and SSE would read them
// as the end of the event), and bytes that are not UTF-8 become \ufffd (in
// valid JSON they can only sit inside a string, where that escape is what
// encoding/json would write, and a WebSocket text frame must be UTF-8).
func appendRaw(dst, v []byte) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	for _, b := range v {
		if b >= utf8.RuneSelf || b == '\n' || b == '\r' {
			return appendRawRepaired(dst, v)
		}
	}
	return append(dst, v...)
}

func appendRawRepaired(dst, v []byte) []byte {
	start := 0
	for i := 0; i < len(v); {
		b := v[i]
		switch {
		case b == '\n' || b == '\r':
			dst = append(dst, v[start:i]...)
			i++
			start = i
		case b < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, v[start:i]...)
				dst = append(dst, `\ufffd`...)
				start = i + 1
			}
			i += size
		}
	}
	return append(dst, v[start:]...)
}

// compact removes the whitespace between the tokens of v, which must be valid
// JSON. dst may be v[:0]: compact never writes ahead of what it has read.
func compact(dst, v []byte) []byte {
	inString, escaped := false, false
	start := 0
	for i, b := range v {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}

// NormalizeData checks that data is one JSON value in valid UTF-8, as a
// publication's data must be, and returns a compact copy of it. The HTTP API
// and DecodeCommand use it so that what is stored, replayed and sent is the
// same bytes whichever way a publication came in. The error wraps
// stream.ErrBadRequest.
func NormalizeData(data []byte) (json.RawMessage, error) {
	if err := checkData(data); err != nil {
		return nil, err
	}
	return compact(make([]byte, 0, len(data)), data), nil
}

func checkData(data []byte) error {
	if !json.Valid(data) {
		return fmt.Errorf("%w: data is not one JSON value", stream.ErrBadRequest)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: data is not valid UTF-8", stream.ErrBadRequest)
	}
	return nil
}

package stream

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
)

// Cursor limits. A cursor that breaks one is refused by ParseCursor.
const (
	MaxCursorLen      = 8192 // encoded characters
	MaxCursorChannels = 1024
	MaxEpochLen       = 64
)

const cursorV1 = 1

// Cursor packs the positions of every channel of one connection into one
// opaque, URL-safe string: the SSE event id and the long-poll cursor.
//
// Channels are keyed by a 64-bit hash of their name, so a cursor stays short
// however long the names are; a cursor is read against the channel list of
// the request that brings it. A CRC-32 rejects truncated or altered cursors.
// Cursors are not secrets: a client could as well ask for any position, and
// permissions are checked on every channel whatever the cursor says.
//
// Encoding (version 1), base64url without padding:
//
//	0x01 | uvarint n | n × (hash uint64 BE | uvarint len | epoch | uvarint offset) | crc32 BE
//
// with hashes strictly increasing. The zero Cursor is empty and ready to use.
// A Cursor is not safe for concurrent use.
type Cursor struct {
	entries []cursorEntry
	// raw is AppendText's scratch space, kept so that writing a cursor
	// per event (the SSE id) allocates nothing in steady state.
	raw []byte
}

type cursorEntry struct {
	hash uint64
	pos  Position
}

// ChannelHash is the key a cursor stores for a channel (64-bit FNV-1a).
func ChannelHash(channel string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(channel); i++ {
		h ^= uint64(channel[i])
		h *= 1099511628211
	}
	return h
}

func (c *Cursor) find(h uint64) (int, bool) {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].hash >= h })
	return i, i < len(c.entries) && c.entries[i].hash == h
}

// Set records the position of a channel.
func (c *Cursor) Set(channel string, p Position) {
	h := ChannelHash(channel)
	i, ok := c.find(h)
	if ok {
		c.entries[i].pos = p
		return
	}
	c.entries = append(c.entries, cursorEntry{})
	copy(c.entries[i+1:], c.entries[i:])
	c.entries[i] = cursorEntry{hash: h, pos: p}
}

// Get returns the position recorded for a channel.
func (c *Cursor) Get(channel string) (Position, bool) {
	i, ok := c.find(ChannelHash(channel))
	if !ok {
		return Position{}, false
	}
	return c.entries[i].pos, true
}

// Delete forgets a channel.
func (c *Cursor) Delete(channel string) {
	if i, ok := c.find(ChannelHash(channel)); ok {
		c.entries = append(c.entries[:i], c.entries[i+1:]...)
	}
}

// Len is the number of channels in the cursor.
func (c *Cursor) Len() int { return len(c.entries) }

// AppendText appends the encoded cursor to dst.
func (c *Cursor) AppendText(dst []byte) []byte {
	raw := append(c.raw[:0], cursorV1)
	raw = binary.AppendUvarint(raw, uint64(len(c.entries)))
	for _, e := range c.entries {
		raw = binary.BigEndian.AppendUint64(raw, e.hash)
		raw = binary.AppendUvarint(raw, uint64(len(e.pos.Epoch)))
		raw = append(raw, e.pos.Epoch...)
		raw = binary.AppendUvarint(raw, e.pos.Offset)
	}
	raw = binary.BigEndian.AppendUint32(raw, crc32.ChecksumIEEE(raw))
	c.raw = raw
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}

// String returns the encoded cursor.
func (c *Cursor) String() string { return string(c.AppendText(nil)) }

// MarshalText implements encoding.TextMarshaler.
func (c Cursor) MarshalText() ([]byte, error) {
	c.raw = nil // a copy must not write into the original's scratch space
	return c.AppendText(nil), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Cursor) UnmarshalText(b []byte) error {
	d, err := ParseCursor(string(b))
	if err != nil {
		return err
	}
	*c = d
	return nil
}

// ParseCursor decodes a cursor. Every error wraps ErrBadCursor.
func ParseCursor(s string) (Cursor, error) {
	bad := func(format string, a ...any) (Cursor, error) {
		return Cursor{}, fmt.Errorf("%w: "+format, append([]any{ErrBadCursor}, a...)...)
	}
	if len(s) == 0 {
		return bad("empty")
	}
	if len(s) > MaxCursorLen {
		return bad("%d characters, at most %d", len(s), MaxCursorLen)
	}
	// The decoder skips '\r' and '\n'; refuse them, and anything else
	// outside the URL-safe alphabet, so a cursor has one spelling.
	for i := 0; i < len(s); i++ {
		if !urlSafe[s[i]] {
			return bad("byte %q at %d is not URL-safe base64", s[i], i)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	if len(raw) < 1+1+4 {
		return bad("truncated")
	}
	body, sum := raw[:len(raw)-4], binary.BigEndian.Uint32(raw[len(raw)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return bad("checksum mismatch")
	}
	if body[0] != cursorV1 {
		return bad("unknown version %d", body[0])
	}
	b := body[1:]
	n, k := uvarint(b)
	if k <= 0 {
		return bad("truncated or non-minimal number")
	}
	b = b[k:]
	if n > MaxCursorChannels {
		return bad("%d channels, at most %d", n, MaxCursorChannels)
	}
	// Each entry needs at least 10 bytes, so n is bounded by the input too.
	if n > uint64(len(b)/10) {
		return bad("truncated")
	}
	c := Cursor{entries: make([]cursorEntry, 0, n)}
	for i := uint64(0); i < n; i++ {
		if len(b) < 8 {
			return bad("truncated")
		}
		h := binary.BigEndian.Uint64(b)
		b = b[8:]
		if len(c.entries) > 0 && h <= c.entries[len(c.entries)-1].hash {
			return bad("entries out of order")
		}
		el, k := uvarint(b)
		if k <= 0 {
			return bad("truncated or non-minimal number")
		}
		b = b[k:]
		if el > MaxEpochLen {
			return bad("epoch of %d bytes, at most %d", el, MaxEpochLen)
		}
		if uint64(len(b)) < el {
			return bad("truncated")
		}
		epoch := string(b[:el])
		b = b[el:]
		off, k := uvarint(b)
		if k <= 0 {
			return bad("truncated or non-minimal number")
		}
		b = b[k:]
		c.entries = append(c.entries, cursorEntry{hash: h, pos: Position{Epoch: epoch, Offset: off}})
	}
	if len(b) != 0 {
		return bad("%d trailing bytes", len(b))
	}
	return c, nil
}

// uvarint reads a varint in its shortest form only, so every cursor has
// exactly one encoding; it returns k <= 0 otherwise.
func uvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k > 0 && k != uvarintLen(v) {
		return 0, -1
	}
	return v, k
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

var urlSafe = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

package stream_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

// rawCursor encodes a version-1 cursor body the way AppendText does, with
// its checksum, so tests can build cursors AppendText never would.
func rawCursor(body []byte) string {
	body = binary.BigEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	return base64.RawURLEncoding.EncodeToString(body)
}

func rawEntry(dst []byte, hash uint64, epoch string, offset uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, hash)
	dst = binary.AppendUvarint(dst, uint64(len(epoch)))
	dst = append(dst, epoch...)
	return binary.AppendUvarint(dst, offset)
}

func TestCursorSetGetDelete(t *testing.T) {
	var c stream.Cursor
	if c.Len() != 0 {
		t.Fatalf("zero Cursor has %d channels", c.Len())
	}
	if _, ok := c.Get("a"); ok {
		t.Fatal("zero Cursor has a position for a")
	}
	c.Set("a", stream.Position{Epoch: "e1", Offset: 1})
	c.Set("b", stream.Position{Epoch: "e2", Offset: 2})
	c.Set("c", stream.Position{Epoch: "e3", Offset: 3})
	c.Set("a", stream.Position{Epoch: "e1", Offset: 10})
	if c.Len() != 3 {
		t.Fatalf("Len = %d after setting 3 channels, want 3", c.Len())
	}
	for ch, want := range map[string]stream.Position{
		"a": {Epoch: "e1", Offset: 10},
		"b": {Epoch: "e2", Offset: 2},
		"c": {Epoch: "e3", Offset: 3},
	} {
		if got, ok := c.Get(ch); !ok || got != want {
			t.Errorf("Get(%q) = %+v, %v; want %+v", ch, got, ok, want)
		}
	}
	c.Delete("b")
	c.Delete("missing")
	if _, ok := c.Get("b"); ok || c.Len() != 2 {
		t.Errorf("after Delete(b): Len = %d, Get(b) found = %v", c.Len(), ok)
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("Delete(b) lost a")
	}
}

func TestCursorRoundTrip(t *testing.T) {
	positions := map[string]stream.Position{
		"chat:lobby":                 {Epoch: "x1", Offset: 42},
		"news":                       {Epoch: "", Offset: 0},
		"max":                        {Epoch: strings.Repeat("e", stream.MaxEpochLen), Offset: 1<<64 - 1},
		"binary epoch":               {Epoch: "\x00\xff\n", Offset: 7},
		strings.Repeat("long", 60):   {Epoch: "x", Offset: 1},
		"user:42/inbox@example.com=": {Epoch: "y", Offset: 1 << 40},
	}
	var c stream.Cursor
	for ch, p := range positions {
		c.Set(ch, p)
	}
	s := c.String()
	if string(c.AppendText(nil)) != s {
		t.Error("String and AppendText differ")
	}
	if got := string(c.AppendText([]byte("id: "))); got != "id: "+s {
		t.Errorf("AppendText after a prefix = %q", got)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(s) {
		t.Errorf("cursor %q is not URL-safe", s)
	}
	d, err := stream.ParseCursor(s)
	if err != nil {
		t.Fatalf("ParseCursor(%q): %v", s, err)
	}
	if d.Len() != len(positions) {
		t.Errorf("parsed Len = %d, want %d", d.Len(), len(positions))
	}
	for ch, want := range positions {
		if got, ok := d.Get(ch); !ok || got != want {
			t.Errorf("parsed Get(%q) = %+v, %v; want %+v", ch, got, ok, want)
		}
	}
	if d.String() != s {
		t.Errorf("re-encoded %q, want %q", d.String(), s)
	}

	text, err := c.MarshalText()
	if err != nil || string(text) != s {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
	var u stream.Cursor
	if err := u.UnmarshalText(text); err != nil || u.String() != s {
		t.Errorf("UnmarshalText: %v, re-encoded %q", err, u.String())
	}
	if err := u.UnmarshalText([]byte("!")); !errors.Is(err, stream.ErrBadCursor) {
		t.Errorf("UnmarshalText(!) = %v, want ErrBadCursor", err)
	}
	if u.String() != s {
		t.Error("a failed UnmarshalText changed the cursor")
	}
}

func TestCursorEmpty(t *testing.T) {
	var c stream.Cursor
	d, err := stream.ParseCursor(c.String())
	if err != nil || d.Len() != 0 {
		t.Errorf("ParseCursor(empty cursor %q) = %d channels, %v", c.String(), d.Len(), err)
	}
}

// TestCursorManyChannels uses the default channel limit per connection with
// realistic epochs: such a cursor must round-trip.
func TestCursorManyChannels(t *testing.T) {
	var c stream.Cursor
	for i := range 128 {
		c.Set(fmt.Sprintf("chat:room%d", i), stream.Position{Epoch: "0123456789abcdef", Offset: uint64(i) << 20})
	}
	d, err := stream.ParseCursor(c.String())
	if err != nil {
		t.Fatalf("ParseCursor of %d characters: %v", len(c.String()), err)
	}
	if d.Len() != 128 {
		t.Errorf("Len = %d, want 128", d.Len())
	}
}

func TestParseCursorErrors(t *testing.T) {
	var valid stream.Cursor
	valid.Set("a", stream.Position{Epoch: "x1", Offset: 5})
	valid.Set("b", stream.Position{Epoch: "x1", Offset: 6})
	good := valid.String()
	flipped := []byte(good)
	if flipped[4] == 'A' {
		flipped[4] = 'B'
	} else {
		flipped[4] = 'A'
	}

	one := rawEntry(nil, 5, "x", 1)
	tooMany := binary.AppendUvarint([]byte{1}, stream.MaxCursorChannels+1)

	tests := []struct {
		name, in, mention string
	}{
		{"empty", "", "empty"},
		{"oversize", strings.Repeat("A", stream.MaxCursorLen+1), "at most"},
		{"not base64url", "a+b/c=", "base64"},
		{"too short", rawCursor([]byte{1}), "truncated"},
		{"cut short", good[:len(good)-3], ""},
		{"bad checksum", string(flipped), "checksum"},
		{"wrong version", rawCursor([]byte{2, 0}), "version"},
		{"too many channels", rawCursor(tooMany), "channels"},
		{"count beyond the data", rawCursor(append([]byte{1, 2}, one...)), "truncated"},
		{"count overflows", rawCursor([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), "truncated"},
		{"entry cut in its hash", rawCursor(append([]byte{1, 1}, one[:5]...)), "truncated"},
		{"entry cut in its epoch", rawCursor(append([]byte{1, 1}, rawEntry(nil, 5, "xxxxxxxxxxxx", 1)[:12]...)), "truncated"},
		{"entry without offset", rawCursor(append([]byte{1, 1}, one[:len(one)-1]...)), "truncated"},
		{"epoch too long", rawCursor(append([]byte{1, 1}, rawEntry(nil, 5, strings.Repeat("e", stream.MaxEpochLen+1), 1)...)), "epoch"},
		{"entries out of order", rawCursor(rawEntry(rawEntry([]byte{1, 2}, 9, "x", 1), 5, "x", 1)), "order"},
		{"duplicate entries", rawCursor(rawEntry(rawEntry([]byte{1, 2}, 5, "x", 1), 5, "x", 2)), "order"},
		{"trailing bytes", rawCursor(append(append([]byte{1, 1}, one...), 0)), "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := stream.ParseCursor(tt.in)
			if !errors.Is(err, stream.ErrBadCursor) {
				t.Fatalf("ParseCursor = %v, want an error wrapping ErrBadCursor", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if c.Len() != 0 {
				t.Errorf("failed ParseCursor returned %d channels", c.Len())
			}
		})
	}
}

// nonCanonicalCursors are encodings ParseCursor should refuse because
// another string encodes the same positions: a non-minimal varint (this is
// the empty cursor with its count written in two bytes), and base64 with
// padding bits set.
func nonCanonicalCursors() []string {
	var c stream.Cursor
	c.Set("a", stream.Position{Epoch: "x", Offset: 1}) // 17 bytes: 2 padding bits
	s := []byte(c.String())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	s[len(s)-1] = alphabet[strings.IndexByte(alphabet, s[len(s)-1])|1]
	return []string{rawCursor([]byte{1, 0x80, 0x00}), string(s)}
}

func TestParseCursorNonCanonical(t *testing.T) {
	for _, s := range nonCanonicalCursors() {
		if _, err := stream.ParseCursor(s); !errors.Is(err, stream.ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrBadCursor", s, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	var c stream.Cursor
	f.Add(c.String())
	c.Set("chat:lobby", stream.Position{Epoch: "x1", Offset: 42})
	f.Add(c.String())
	c.Set("news", stream.Position{Epoch: strings.Repeat("e", stream.MaxEpochLen), Offset: 1<<64 - 1})
	f.Add(c.String())
	f.Add(rawCursor(rawEntry(rawEntry([]byte{1, 2}, 9, "x", 1), 5, "x", 1)))
	f.Add(rawCursor([]byte{2, 0}))
	f.Add("")
	for _, s := range nonCanonicalCursors() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := stream.ParseCursor(s)
		if err != nil {
			if !errors.Is(err, stream.ErrBadCursor) {
				t.Fatalf("ParseCursor(%q) = %v, which does not wrap ErrBadCursor", s, err)
			}
			return
		}
		re := c.String()
		if re != s {
			t.Fatalf("ParseCursor(%q) re-encodes as %q: two encodings of one cursor", s, re)
		}
		d, err := stream.ParseCursor(re)
		if err != nil {
			t.Fatalf("re-encoded cursor %q (from %q) does not parse: %v", re, s, err)
		}
		if d.Len() != c.Len() || d.String() != re {
			t.Fatalf("re-encoding is not stable: %q → %q → %q", s, re, d.String())
		}
	})
}

func benchCursor() *stream.Cursor {
	var c stream.Cursor
	for i := range 16 {
		c.Set(fmt.Sprintf("chat:room%d", i), stream.Position{Epoch: "x1b9f", Offset: uint64(1000 + i)})
	}
	return &c
}

func BenchmarkCursorAppendText(b *testing.B) {
	c := benchCursor()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendText(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseCursor(b *testing.B) {
	s := benchCursor().String()
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := stream.ParseCursor(s); err != nil {
			b.Fatal(err)
		}
	}
}

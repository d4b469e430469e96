package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// addGoldens seeds f with every golden frame whose name matches pattern.
func addGoldens(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden frames match %s: %v", pattern, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	addGoldens(f, "c*.json")
	f.Add([]byte(`{"type":"publish","id":3,"channel":"c","data":{ "a" : "b c" },"future":[1]}`))
	f.Add([]byte("{\"type\":\"connect\",\"id\":1,\"token\":\"\xff\u2028\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := protocol.DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, stream.ErrBadRequest) && !errors.Is(err, stream.ErrUnknownCommand) {
				t.Fatalf("error %v wraps neither ErrBadRequest nor ErrUnknownCommand", err)
			}
			if c.Type == "" && c.ID != 0 {
				t.Fatalf("error Command has an id without a type: %+v", c)
			}
			checkWire(t, protocol.AppendErrorReply(nil, c.Type, c.ID, protocol.ErrorFor(err)))
			return
		}
		enc := protocol.AppendCommand(nil, c)
		if !json.Valid(enc) || !utf8.Valid(enc) {
			t.Fatalf("AppendCommand(%+v) = %q: not valid JSON in UTF-8", c, enc)
		}
		c2, err := protocol.DecodeCommand(enc)
		if err != nil {
			t.Fatalf("DecodeCommand(AppendCommand(%+v)) = %v\nframe %q", c, err, enc)
		}
		if d := cmp.Diff(c, c2); d != "" {
			t.Fatalf("round trip through %q (-first +second):\n%s", enc, d)
		}
		if enc2 := protocol.AppendCommand(nil, c2); !bytes.Equal(enc, enc2) {
			t.Fatalf("AppendCommand is not stable:\n%q\n%q", enc, enc2)
		}
	})
}

// oracleCommand is DecodeCommand written with encoding/json, the reference
// it is held to: exact keys (a map keeps them as sent), encoding/json's
// rules for every value, and the protocol's checks on top.
func oracleCommand(b []byte) (protocol.Command, bool) {
	var c protocol.Command
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return c, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return c, false
	}
	field := func(m map[string]json.RawMessage, key string, v any) bool {
		raw, ok := m[key]
		return !ok || json.Unmarshal(raw, v) == nil
	}
	if !field(m, "type", &c.Type) || !field(m, "id", &c.ID) || !field(m, "token", &c.Token) ||
		!field(m, "channel", &c.Channel) || !field(m, "key", &c.Key) ||
		!field(m, "limit", &c.Limit) || !field(m, "reverse", &c.Reverse) {
		return c, false
	}
	if raw, ok := m["since"]; ok && string(raw) != "null" {
		var sm map[string]json.RawMessage
		if json.Unmarshal(raw, &sm) != nil {
			return c, false
		}
		c.Since = &stream.Position{}
		if !field(sm, "epoch", &c.Since.Epoch) || !field(sm, "offset", &c.Since.Offset) {
			return c, false
		}
	}
	if raw, ok := m["data"]; ok {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			return c, false
		}
		c.Data = buf.Bytes()
	}
	switch c.Type {
	case "connect":
	case "refresh":
		if c.Token == "" {
			return c, false
		}
	case "subscribe", "unsubscribe", "history", "presence":
		if c.Channel == "" {
			return c, false
		}
	case "publish":
		if c.Channel == "" || c.Data == nil {
			return c, false
		}
	case "pong":
	default:
		return c, false
	}
	if c.Type != "pong" && c.ID == 0 {
		return c, false
	}
	return c, unicodeText(b)
}

// escapes finds every escape of a JSON text in order, a surrogate pair as
// one; the second alternative is a lone surrogate. Escapes only occur in
// strings, so the whole text can be searched.
var escapes = regexp.MustCompile(`\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})|\\.`)

// unicodeText is what DecodeCommand holds frames to: UTF-8 with no \u
// escape of a lone surrogate, which encoding/json would turn into U+FFFD.
func unicodeText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, m := range escapes.FindAllSubmatchIndex(b, -1) {
		if m[2] >= 0 {
			return false
		}
	}
	return true
}

func FuzzDecodeCommandOracle(f *testing.F) {
	addGoldens(f, "c*.json")
	for _, s := range []string{
		`{"type":"history","id":6,"channel":"c","since":{"epoch":"a","offset":1},"since":{"epoch":"b"}}`,
		`{"type":"history","id":6,"channel":"c","limit":-0,"reverse":null}`,
		`{"type":"connect","id":1,"token":"\ud83d\ude00 \ud800\u0041 \udc00\ud800 \/"}`,
		"{\"type\":\"connect\",\"id\":1,\"token\":\"a\xffb\xe2\x82\"}",
		`{"type":"connect","id":1e0}`,
		`{"type":"connect","id":18446744073709551615,"x":[{"y":[[]]},-0.5e+7,true,null]}`,
		`{"type":"history","id":6,"channel":"c","limit":-9223372036854775808}`,
		`{"type":"history","id":6,"channel":"c","limit":9223372036854775808}`,
		`{"Type":"connect","type":"pong","TYPE":"x"}`,
		`{"type":"publish","id":3,"channel":"c","data":"\u00e9","data":[ 1 , {"a" : "b c"} ]}`,
		`{"\u0074ype":"pong"}`,
		`{"type":"pong"}` + " \t\r\n",
		`{"type":"pong",}`,
		`{"type":"pong"}}`,
		`{"type":"pong","id":01}`,
		`{"type":"pong","x":"\x"}`,
		"{\"type\":\"pong\",\"x\":\"\t\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := protocol.DecodeCommand(b)
		want, ok := oracleCommand(b)
		if ok != (err == nil) {
			t.Fatalf("DecodeCommand(%q) error = %v, but encoding/json says ok = %v (%+v)", b, err, ok, want)
		}
		if ok {
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("DecodeCommand(%q) differs from encoding/json (-json +got):\n%s", b, d)
			}
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	addGoldens(f, "s_*.json")
	f.Add([]byte(`{"type":"message","channel":"c","data":[1, "\u00e9"],"info":null}`))
	f.Add([]byte(`{"type":"message","data":1e400,"info":{"client":"c","info":-0.0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := protocol.DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, stream.ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		p := fr.Publication()
		if p == nil {
			return
		}
		// What a client read, the server's encoder writes back the same.
		enc := protocol.AppendMessage(nil, p)
		checkWire(t, enc)
		fr2, err := protocol.DecodeFrame(enc)
		if err != nil {
			t.Fatalf("DecodeFrame(AppendMessage(%+v)) = %v\nframe %q", p, err, enc)
		}
		p2 := fr2.Publication()
		if !sameJSON(t, p.Data, p2.Data) {
			t.Fatalf("data %q came back as %q", p.Data, p2.Data)
		}
		p.Data, p2.Data = nil, nil
		if p.Info != nil && p2.Info != nil {
			if !sameJSON(t, p.Info.Info, p2.Info.Info) {
				t.Fatalf("info %q came back as %q", p.Info.Info, p2.Info.Info)
			}
			p.Info.Info, p2.Info.Info = nil, nil
		}
		if d := cmp.Diff(p, p2); d != "" {
			t.Fatalf("round trip through %q (-first +second):\n%s", enc, d)
		}
	})
}

// sameJSON reports whether two raw values mean the same, empty meaning null.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var va, vb any
	for _, x := range []struct {
		raw json.RawMessage
		v   *any
	}{{a, &va}, {b, &vb}} {
		if len(x.raw) == 0 {
			continue
		}
		// UseNumber: valid JSON numbers such as 1e400 do not fit a float64.
		dec := json.NewDecoder(bytes.NewReader(x.raw))
		dec.UseNumber()
		if err := dec.Decode(x.v); err != nil {
			t.Fatalf("raw value %q: %v", x.raw, err)
		}
	}
	return cmp.Equal(va, vb)
}

// validJSON turns fuzz bytes into one compact JSON value: b itself when it
// is one, else b as a JSON string.
func validJSON(b []byte) json.RawMessage {
	if json.Valid(b) && utf8.Valid(b) {
		var buf bytes.Buffer
		_ = json.Compact(&buf, b)
		return buf.Bytes()
	}
	s, _ := json.Marshal(string(b))
	return s
}

// wireString is what a string is once it has been through JSON: invalid
// UTF-8 replaced, as encoding/json does it.
func wireString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func FuzzAppendPublication(f *testing.F) {
	for _, name := range []string{"s_message", "s_message_info", "s_message_escaped", "s_publication"} {
		b, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		fr, err := protocol.DecodeFrame(b)
		if err != nil {
			f.Fatal(err)
		}
		info := fr.Info
		if info == nil {
			info = &stream.ClientInfo{}
		}
		f.Add(fr.Channel, fr.Epoch, fr.Offset, []byte(fr.Data), fr.Time, fr.Key,
			fr.Info != nil, info.Client, info.User, []byte(info.Info))
	}
	for _, s := range awkward {
		f.Add(s, s, uint64(1<<64-1), []byte(s), int64(-1<<63), s, true, s, s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, channel, epoch string, offset uint64, data []byte, tm int64, key string,
		withInfo bool, client, user string, info []byte) {
		p := &stream.Publication{Channel: channel, Epoch: epoch, Offset: offset,
			Data: validJSON(data), Time: tm, Key: key}
		if withInfo {
			p.Info = &stream.ClientInfo{Client: client, User: user}
			if len(info) > 0 {
				p.Info.Info = validJSON(info)
			}
		}
		for _, typ := range []string{"", "message"} {
			var enc []byte
			if typ == "" {
				enc = protocol.AppendPublication(nil, p)
			} else {
				enc = protocol.AppendMessage(nil, p)
			}
			checkWire(t, enc)
			if want := refMessage(t, typ, p); !bytes.Equal(enc, want) {
				t.Fatalf("encoder and encoding/json differ:\n got %q\nwant %q", enc, want)
			}
			fr, err := protocol.DecodeFrame(enc)
			if err != nil {
				t.Fatalf("DecodeFrame(%q): %v", enc, err)
			}
			want := *p
			want.Channel, want.Epoch, want.Key = wireString(channel), wireString(epoch), wireString(key)
			if p.Info != nil {
				want.Info = &stream.ClientInfo{Client: wireString(client), User: wireString(user), Info: p.Info.Info}
			}
			if fr.Type != typ {
				t.Fatalf("type %q, want %q", fr.Type, typ)
			}
			if d := cmp.Diff(&want, fr.Publication()); d != "" {
				t.Fatalf("decoded publication (-want +got):\n%s", d)
			}
		}
	})
}

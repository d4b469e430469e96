package protocol_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want protocol.Command
	}{
		{"whitespace around and inside",
			" \n{ \"type\" : \"publish\", \"id\":3 ,\"channel\":\"c\",\"data\": { \"a\" : [ 1, 2 ] , \"s\":\"x y\\\" z\" } }\t",
			protocol.Command{Type: "publish", ID: 3, Channel: "c", Data: raw(`{"a":[1,2],"s":"x y\" z"}`)}},
		{"unknown fields are ignored",
			`{"type":"subscribe","id":2,"channel":"c","future":{"x":[1,{"y":null}]},"v":2}`,
			protocol.Command{Type: "subscribe", ID: 2, Channel: "c"}},
		{"null data is data",
			`{"type":"publish","id":3,"channel":"c","data":null}`,
			protocol.Command{Type: "publish", ID: 3, Channel: "c", Data: raw(`null`)}},
		{"scalar data",
			`{"type":"publish","id":3,"channel":"c","data":"hi"}`,
			protocol.Command{Type: "publish", ID: 3, Channel: "c", Data: raw(`"hi"`)}},
		{"null since is no since",
			`{"type":"subscribe","id":2,"channel":"c","since":null}`,
			protocol.Command{Type: "subscribe", ID: 2, Channel: "c"}},
		{"empty since is the zero position",
			`{"type":"subscribe","id":2,"channel":"c","since":{}}`,
			protocol.Command{Type: "subscribe", ID: 2, Channel: "c", Since: &stream.Position{}}},
		{"largest id",
			`{"type":"connect","id":18446744073709551615}`,
			protocol.Command{Type: "connect", ID: 1<<64 - 1}},
		{"negative limit",
			`{"type":"history","id":6,"channel":"c","limit":-1}`,
			protocol.Command{Type: "history", ID: 6, Channel: "c", Limit: -1}},
		{"escapes in strings",
			`{"type":"subscribe","id":2,"channel":"ch\u0061t","since":{"epoch":"\ud83d\ude00","offset":1}}`,
			protocol.Command{Type: "subscribe", ID: 2, Channel: "chat", Since: &stream.Position{Epoch: "😀", Offset: 1}}},
		{"an escaped backslash before u is no escape",
			`{"type":"publish","id":3,"channel":"c","data":"\\ud800","key":"\\udc00"}`,
			protocol.Command{Type: "publish", ID: 3, Channel: "c", Data: raw(`"\\ud800"`), Key: `\udc00`}},
		{"pong may carry an id",
			`{"type":"pong","id":5}`,
			protocol.Command{Type: "pong", ID: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.DecodeCommand([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		sentinel error
		addr     protocol.Command
		mention  string
	}{
		{"empty", ``, stream.ErrBadRequest, protocol.Command{}, "object"},
		{"null", `null`, stream.ErrBadRequest, protocol.Command{}, "object"},
		{"string", `"connect"`, stream.ErrBadRequest, protocol.Command{}, "object"},
		{"trailing garbage", `{"type":"pong"} {}`, stream.ErrBadRequest, protocol.Command{Type: "pong"}, "malformed"},
		{"breaks off after the id", `{"type":"history","id":6,"channel":"c","limit":1,`, stream.ErrBadRequest,
			protocol.Command{Type: "history", ID: 6}, "malformed JSON at byte 49: unexpected end"},
		{"breaks off before the id", `{"type":"history","channel":"c",,"id":6}`, stream.ErrBadRequest,
			protocol.Command{Type: "history"}, "malformed"},
		{"key case matters", `{"Type":"connect","ID":1}`, stream.ErrBadRequest, protocol.Command{}, "missing type"},
		{"type not a string", `{"type":5,"id":1}`, stream.ErrBadRequest, protocol.Command{}, "type must be a string"},
		{"empty type", `{"type":"","id":1}`, stream.ErrBadRequest, protocol.Command{}, "missing type"},
		{"negative id", `{"type":"connect","id":-1}`, stream.ErrBadRequest, protocol.Command{Type: "connect"}, "id must be"},
		{"fractional id", `{"type":"connect","id":1.5}`, stream.ErrBadRequest, protocol.Command{Type: "connect"}, "id must be"},
		{"string id", `{"type":"connect","id":"1"}`, stream.ErrBadRequest, protocol.Command{Type: "connect"}, "id must be"},
		{"id too large", `{"type":"connect","id":18446744073709551616}`, stream.ErrBadRequest, protocol.Command{Type: "connect"}, "id must be"},
		{"since not an object", `{"type":"subscribe","id":2,"channel":"c","since":"x1:41"}`, stream.ErrBadRequest,
			protocol.Command{Type: "subscribe", ID: 2}, "since must be an object"},
		{"offset not a number", `{"type":"subscribe","id":2,"channel":"c","since":{"epoch":"x","offset":"1"}}`, stream.ErrBadRequest,
			protocol.Command{Type: "subscribe", ID: 2}, "since.offset"},
		{"reverse not a bool", `{"type":"history","id":6,"channel":"c","reverse":1}`, stream.ErrBadRequest,
			protocol.Command{Type: "history", ID: 6}, "reverse must be true or false"},
		{"unknown type keeps its id", `{"type":"teleport","id":9,"channel":5}`, stream.ErrUnknownCommand,
			protocol.Command{Type: "teleport", ID: 9}, "teleport"},
		{"unsubscribe without channel", `{"type":"unsubscribe","id":5}`, stream.ErrBadRequest,
			protocol.Command{Type: "unsubscribe", ID: 5}, "missing channel"},
		{"history without channel", `{"type":"history","id":6}`, stream.ErrBadRequest,
			protocol.Command{Type: "history", ID: 6}, "missing channel"},
		{"presence without channel", `{"type":"presence","id":7}`, stream.ErrBadRequest,
			protocol.Command{Type: "presence", ID: 7}, "missing channel"},
		{"publish without channel", `{"type":"publish","id":3,"data":1}`, stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, "missing channel"},
		{"data not UTF-8", "{\"type\":\"publish\",\"id\":3,\"channel\":\"c\",\"data\":\"a\xffb\"}", stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, "UTF-8"},
		{"connect without id", `{"type":"connect"}`, stream.ErrBadRequest, protocol.Command{Type: "connect"}, "missing id"},
		// Never rewritten to U+FFFD: keys "\xff" and "\xfe" would be equal.
		{"token not UTF-8", "{\"type\":\"connect\",\"id\":1,\"token\":\"a\xffb\"}", stream.ErrBadRequest,
			protocol.Command{Type: "connect", ID: 1}, "invalid UTF-8 at byte 35"},
		{"key 0xff", "{\"type\":\"publish\",\"id\":3,\"channel\":\"c\",\"data\":1,\"key\":\"\xff\"}", stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, "invalid UTF-8"},
		{"key 0xfe", "{\"type\":\"publish\",\"id\":3,\"channel\":\"c\",\"data\":1,\"key\":\"\xfe\"}", stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, "invalid UTF-8"},
		{"key truncated sequence", "{\"type\":\"publish\",\"id\":3,\"channel\":\"c\",\"data\":1,\"key\":\"\xe2\x82\"}", stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, "invalid UTF-8"},
		{"key lone high surrogate", `{"type":"publish","id":3,"channel":"c","data":1,"key":"\ud800"}`, stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, `lone surrogate \ud800`},
		{"key lone low surrogate", `{"type":"publish","id":3,"channel":"c","data":1,"key":"x\uDC00"}`, stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, `lone surrogate \udc00`},
		{"key high surrogate before a letter", `{"type":"publish","id":3,"channel":"c","data":1,"key":"\ud83d\u0041"}`, stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, `lone surrogate \ud83d`},
		{"epoch lone surrogate", `{"type":"subscribe","id":2,"channel":"c","since":{"epoch":"\udfff","offset":1}}`, stream.ErrBadRequest,
			protocol.Command{Type: "subscribe", ID: 2}, "lone surrogate"},
		{"surrogate in data", `{"type":"publish","id":3,"channel":"c","data":["\ud800"]}`, stream.ErrBadRequest,
			protocol.Command{Type: "publish", ID: 3}, "lone surrogate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.DecodeCommand([]byte(tt.in))
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("error = %v, want one wrapping %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if d := cmp.Diff(tt.addr, got); d != "" {
				t.Errorf("returned Command (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeCommandCopies(t *testing.T) {
	// The WebSocket reader reuses its buffer; a Command must not see that.
	b := []byte(`{"type":"publish","id":3,"channel":"chat:lobby","data":{"text":"yo"},"key":"k"}`)
	c, err := protocol.DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	want := protocol.Command{Type: "publish", ID: 3, Channel: "chat:lobby", Data: raw(`{"text":"yo"}`), Key: "k"}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("Command changed with its input (-want +got):\n%s", d)
	}
}

func TestAppendCommand(t *testing.T) {
	tests := []struct {
		c    protocol.Command
		want string
	}{
		{protocol.Command{Type: "pong"}, `{"type":"pong"}`},
		{protocol.Command{Type: "history", ID: 1, Channel: "c", Since: &stream.Position{}, Limit: -1},
			`{"type":"history","id":1,"channel":"c","since":{"epoch":"","offset":0},"limit":-1}`},
		{protocol.Command{Type: "publish", ID: 2, Channel: "c", Data: raw("{\n\"a\": \"é\"\r\n}")},
			`{"type":"publish","id":2,"channel":"c","data":{"a": "é"}}`},
		{protocol.Command{Type: "connect", ID: 3, Token: "a\"b\\c\x00"},
			`{"type":"connect","id":3,"token":"a\"b\\c\u0000"}`},
	}
	for _, tt := range tests {
		if got := string(protocol.AppendCommand(nil, tt.c)); got != tt.want {
			t.Errorf("AppendCommand(%+v)\n got %s\nwant %s", tt.c, got, tt.want)
		}
	}
}

func TestNormalizeData(t *testing.T) {
	good := []struct{ in, want string }{
		{`1`, `1`},
		{` {"a" : [1, 2, "x  y"]}` + "\n", `{"a":[1,2,"x  y"]}`},
		{`"a\"  b"`, `"a\"  b"`},
		{`null`, `null`},
	}
	for _, tt := range good {
		got, err := protocol.NormalizeData([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("NormalizeData(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{``, ` `, `{`, `1 2`, `{"a":1}x`, "\"\xff\"", `NaN`} {
		if _, err := protocol.NormalizeData([]byte(in)); !errors.Is(err, stream.ErrBadRequest) {
			t.Errorf("NormalizeData(%q) error = %v, want ErrBadRequest", in, err)
		}
	}
	in := []byte(`{"a":1}`)
	out, _ := protocol.NormalizeData(in)
	in[1] = 'X'
	if !json.Valid(out) || string(out) != `{"a":1}` {
		t.Errorf("NormalizeData shares memory with its input: %s", out)
	}
}

// TestDecodeCommandDepth checks the nesting limit, encoding/json's: 10000
// levels, counting the command itself.
func TestDecodeCommandDepth(t *testing.T) {
	frame := func(depth int) []byte {
		return []byte(`{"type":"pong","x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
	}
	var m map[string]any
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{10000, true}, {10001, false}} {
		_, err := protocol.DecodeCommand(frame(tt.depth))
		jerr := json.Unmarshal(frame(tt.depth), &m)
		if (err == nil) != tt.ok || (jerr == nil) != tt.ok {
			t.Errorf("depth %d: DecodeCommand error %v, encoding/json error %v; want ok = %v", tt.depth, err, jerr, tt.ok)
		}
	}
}

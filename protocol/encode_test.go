package protocol_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// refPublication is the publication shape declared for encoding/json, the
// reference the hand-written encoders are held to.
type refPublication struct {
	Type    string             `json:"type,omitempty"`
	Channel string             `json:"channel"`
	Epoch   string             `json:"epoch"`
	Offset  uint64             `json:"offset"`
	Data    json.RawMessage    `json:"data"`
	Time    int64              `json:"time"`
	Key     string             `json:"key,omitempty"`
	Info    *stream.ClientInfo `json:"info,omitempty"`
}

// refEncode encodes v with encoding/json as the protocol writes JSON: no HTML
// escaping, no trailing newline.
func refEncode(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func refMessage(t testing.TB, typ string, p *stream.Publication) []byte {
	t.Helper()
	return refEncode(t, refPublication{Type: typ, Channel: p.Channel, Epoch: p.Epoch, Offset: p.Offset,
		Data: p.Data, Time: p.Time, Key: p.Key, Info: p.Info})
}

// awkward holds strings that need every kind of escaping.
var awkward = []string{
	"",
	"plain",
	`quote " and backslash \`,
	"controls \x00\x01\x08\x0c\n\r\t\x1f\x7f",
	"html <script>&amp;</script>",
	"line and paragraph separators \u2028\u2029",
	"non-ASCII é ✓ 😀 \U0010ffff",
	"invalid UTF-8 \xff \xc3\x28 \xe2\x82 \xed\xa0\x80 end\xf0",
	"\ufffd already replaced",
}

func TestAppendPublicationMatchesEncodingJSON(t *testing.T) {
	for _, s := range awkward {
		p := &stream.Publication{Channel: s, Epoch: s, Offset: 1<<64 - 1, Data: raw(`{"s":"x"}`),
			Time: -1 << 63, Key: s, Info: &stream.ClientInfo{Client: s, User: s, Info: raw(`[true]`)}}
		if got, want := protocol.AppendPublication(nil, p), refMessage(t, "", p); !bytes.Equal(got, want) {
			t.Errorf("AppendPublication with %q:\n got %s\nwant %s", s, got, want)
		}
		if got, want := protocol.AppendMessage(nil, p), refMessage(t, "message", p); !bytes.Equal(got, want) {
			t.Errorf("AppendMessage with %q:\n got %s\nwant %s", s, got, want)
		}
	}
}

func TestAppendPublicationRepairsData(t *testing.T) {
	tests := []struct{ data, want string }{
		{"", `null`},
		{"{\n  \"a\": 1\r\n}", `{  "a": 1}`},
		{"\"a\xffb\"", `"a\ufffdb"`},
		{"[\"\xe2\x82\", \"ok é\"]", `["\ufffd\ufffd", "ok é"]`},
	}
	for _, tt := range tests {
		p := &stream.Publication{Channel: "c", Epoch: "e", Data: raw(tt.data)}
		got := protocol.AppendPublication(nil, p)
		want := `{"channel":"c","epoch":"e","offset":0,"data":` + tt.want + `,"time":0}`
		if string(got) != want {
			t.Errorf("data %q:\n got %s\nwant %s", tt.data, got, want)
		}
		checkWire(t, got)
	}
}

// checkWire checks what every server frame must be: valid JSON, valid
// UTF-8, one line.
func checkWire(t testing.TB, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Errorf("not valid JSON: %q", b)
	}
	if !utf8.Valid(b) {
		t.Errorf("not valid UTF-8: %q", b)
	}
	if bytes.ContainsAny(b, "\r\n") {
		t.Errorf("contains a line break: %q", b)
	}
}

func TestEncodersEscape(t *testing.T) {
	for _, s := range awkward {
		e := protocol.Error{Code: 107, Message: s}
		pos := stream.Position{Epoch: s, Offset: 7}
		info := &stream.ClientInfo{Client: s, User: s, Info: raw(`"x"`)}
		frames := map[string][]byte{
			"connect":      protocol.AppendConnectReply(nil, 1, s, 25),
			"subscribe":    protocol.AppendSubscribeReply(nil, 2, s, pos, true),
			"unsubscribe":  protocol.AppendUnsubscribeReply(nil, 3, s),
			"publish":      protocol.AppendPublishReply(nil, 4, pos),
			"history":      protocol.AppendHistoryReply(nil, 5, s, []*stream.Publication{{Channel: s, Key: s}}, pos),
			"presence":     protocol.AppendPresenceReply(nil, 6, s, []stream.ClientInfo{*info}),
			"error":        protocol.AppendErrorReply(nil, s, 8, e),
			"error body":   protocol.AppendErrorBody(nil, e),
			"join":         protocol.AppendPresenceEvent(nil, s, true, info),
			"unsubscribed": protocol.AppendUnsubscribed(nil, s, e),
			"disconnect":   protocol.AppendDisconnect(nil, protocol.Disconnect{Code: 3001, Reason: s}),
		}
		for name, b := range frames {
			checkWire(t, b)
			if _, err := protocol.DecodeFrame(b); err != nil {
				t.Errorf("%s with %q: DecodeFrame: %v", name, s, err)
			}
		}
	}
}

func TestAppendErrorReplyPush(t *testing.T) {
	e := protocol.Error{Code: 107, Message: "bad request"}
	const push = `{"type":"error","error":{"code":107,"message":"bad request"}}`
	for _, tt := range []struct {
		typ string
		id  uint64
	}{{"error", 0}, {"subscribe", 0}, {"", 5}} {
		if got := string(protocol.AppendErrorReply(nil, tt.typ, tt.id, e)); got != push {
			t.Errorf("AppendErrorReply(%q, %d) = %s, want the push %s", tt.typ, tt.id, got, push)
		}
	}
}

func TestAppendPresenceEvent(t *testing.T) {
	tests := []struct {
		join bool
		info *stream.ClientInfo
		want string
	}{
		{true, &stream.ClientInfo{Client: "c1"}, `{"type":"join","channel":"ch","client":"c1"}`},
		{false, &stream.ClientInfo{Client: "c1", User: "u", Info: raw(`{"a":1}`)},
			`{"type":"leave","channel":"ch","client":"c1","user":"u","info":{"a":1}}`},
		{false, nil, `{"type":"leave","channel":"ch","client":""}`},
	}
	for _, tt := range tests {
		if got := string(protocol.AppendPresenceEvent(nil, "ch", tt.join, tt.info)); got != tt.want {
			t.Errorf("AppendPresenceEvent(%v, %+v)\n got %s\nwant %s", tt.join, tt.info, got, tt.want)
		}
	}
}

func TestAppendPresenceReplyEmpty(t *testing.T) {
	got := string(protocol.AppendPresenceReply(nil, 7, "c", nil))
	if want := `{"type":"presence","id":7,"channel":"c","clients":[]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDecodeFrame(t *testing.T) {
	// Unknown fields are ignored: servers newer than the client still work.
	f, err := protocol.DecodeFrame([]byte(`{"type":"ping","v":2,"extra":{"a":[1]}}`))
	if err != nil || f.Type != "ping" {
		t.Errorf("DecodeFrame with unknown fields = %+v, %v", f, err)
	}
	for _, in := range []string{``, `[]`, `null`, `{"type":`, `{"type":1}`, `{"type":"message","info":5}`} {
		if _, err := protocol.DecodeFrame([]byte(in)); err == nil {
			t.Errorf("DecodeFrame(%q) succeeded", in)
		}
	}
}

func TestFramePublication(t *testing.T) {
	p := &stream.Publication{Channel: "c", Epoch: "e", Offset: 3, Data: raw(`1`), Time: 9, Key: "k",
		Info: &stream.ClientInfo{Client: "x"}}
	for _, b := range [][]byte{protocol.AppendMessage(nil, p), protocol.AppendPublication(nil, p)} {
		f, err := protocol.DecodeFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(p, f.Publication()); d != "" {
			t.Errorf("Publication() of %s (-want +got):\n%s", b, d)
		}
	}
	if got := (protocol.Frame{Type: "ping"}).Publication(); got != nil {
		t.Errorf("Publication() of a ping = %+v, want nil", got)
	}
}

func TestAppendMessageAllocations(t *testing.T) {
	p := &stream.Publication{Channel: "chat:lobby", Epoch: "x1", Offset: 42,
		Data: raw(`{"text":"` + strings.Repeat("a", 88) + `"}`), Time: 1763884800123, Key: "k-123",
		Info: &stream.ClientInfo{Client: "c8f1", User: "alice", Info: raw(`{"n":1}`)}}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = protocol.AppendMessage(buf[:0], p) }); n != 0 {
		t.Errorf("AppendMessage into a reused buffer: %v allocations, want 0", n)
	}
	// Into nil, the frame is sized up front: one allocation, not a
	// growth per field.
	if n := testing.AllocsPerRun(100, func() { _ = protocol.AppendMessage(nil, p) }); n != 1 {
		t.Errorf("AppendMessage into nil: %v allocations, want 1", n)
	}
	hist := []*stream.Publication{p, p, p, p}
	if n := testing.AllocsPerRun(100, func() { _ = protocol.AppendHistoryReply(nil, 1, "c", hist, p.Position()) }); n != 1 {
		t.Errorf("AppendHistoryReply into nil: %v allocations, want 1", n)
	}
}

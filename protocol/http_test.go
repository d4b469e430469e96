package protocol_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// TestHTTPBodies pins the JSON of the HTTP request and reply bodies, which
// clients and backends read by field name.
func TestHTTPBodies(t *testing.T) {
	pub := &stream.Publication{Channel: "chat:a", Epoch: "x1", Offset: 4, Data: json.RawMessage(`{"n":1}`), Time: 1700000000000}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"publish request", protocol.PublishRequest{Channel: "chat:a", Data: json.RawMessage(`[1]`), Key: "k"},
			`{"channel":"chat:a","data":[1],"key":"k"}`},
		{"publish reply", protocol.NewPublishReply(stream.PublishResult{Position: stream.Position{Epoch: "x1", Offset: 45}}),
			`{"epoch":"x1","offset":45}`},
		{"duplicate publish reply", protocol.NewPublishReply(stream.PublishResult{Position: stream.Position{Epoch: "x1", Offset: 45}, Duplicate: true}),
			`{"epoch":"x1","offset":45,"duplicate":true}`},
		{"presence reply", protocol.NewPresenceReply("chat:a", []stream.ClientInfo{{Client: "c1", User: "u1", Info: json.RawMessage(`{"a":1}`)}}),
			`{"channel":"chat:a","clients":[{"client":"c1","user":"u1","info":{"a":1}}]}`},
		{"empty presence reply", protocol.NewPresenceReply("chat:a", nil),
			`{"channel":"chat:a","clients":[]}`},
		{"history reply", protocol.NewHistoryReply("chat:a", stream.HistoryPage{Latest: stream.Position{Epoch: "x1", Offset: 5}, Publications: []*stream.Publication{pub}}),
			`{"channel":"chat:a","epoch":"x1","offset":5,"publications":[` + string(protocol.AppendPublication(nil, pub)) + `]}`},
		{"empty history reply", protocol.NewHistoryReply("chat:a", stream.HistoryPage{Latest: stream.Position{Epoch: "x1"}}),
			`{"channel":"chat:a","epoch":"x1","offset":0,"publications":[]}`},
	} {
		got, err := json.Marshal(tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tc.name, got, err, tc.want)
		}
	}
}

func TestRequireData(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		missing  bool
	}{
		{in: `{ "a" : [1, 2] }`, want: `{"a":[1,2]}`},
		{in: `null`, want: `null`},
		{missing: true},
	} {
		var in json.RawMessage
		if !tc.missing {
			in = json.RawMessage(tc.in)
		}
		got, err := protocol.RequireData(in)
		switch {
		case tc.missing && (!errors.Is(err, stream.ErrBadRequest) || err.Error() != "bad request: data is required (any JSON value)"):
			t.Errorf("no data: %v", err)
		case !tc.missing && (err != nil || string(got) != tc.want):
			t.Errorf("RequireData(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`tru`, "\"\xff\"", `1 2`} {
		if _, err := protocol.RequireData(json.RawMessage(bad)); !errors.Is(err, stream.ErrBadRequest) {
			t.Errorf("RequireData(%q) = %v, want a bad request", bad, err)
		}
	}
}

// TestCheckText: the HTTP transports check every JSON body with CheckText
// before decoding it, since encoding/json would make "\xff" and "\xfe" the
// same key.
func TestCheckText(t *testing.T) {
	for _, ok := range []string{
		`{"channel":"chat:a","data":{"é":"😀"},"key":"k-1"}`,
		`{"key":"\ud83d\ude00 \uD83D\uDE00 \u0041 \\ud800 \"\\"}`,
		``, `"\`, `"\u12`, // malformed: left to the decoder
	} {
		if err := protocol.CheckText([]byte(ok)); err != nil {
			t.Errorf("CheckText(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{
		"{\"key\":\"\xff\"}", "{\"key\":\"\xfe\"}", "{\"key\":\"\xed\xa0\x80\"}",
		`{"key":"\ud800"}`, `{"key":"\udc00\ud800"}`, `{"key":"\ud83d\u0041"}`, `{"key":"\ud83d\ud83d"}`, `"\ud800\`,
	} {
		if err := protocol.CheckText([]byte(bad)); !errors.Is(err, stream.ErrBadRequest) {
			t.Errorf("CheckText(%q) = %v, want a bad request", bad, err)
		}
	}
	if _, err := protocol.DecodeFrame([]byte("{\"type\":\"message\",\"key\":\"\xff\",\"data\":1}")); !errors.Is(err, stream.ErrBadRequest) {
		t.Errorf("DecodeFrame of invalid UTF-8 = %v, want a bad request", err)
	}
}

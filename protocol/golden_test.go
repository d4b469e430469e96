package protocol_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

const goldenDir = "testdata/frames"

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// clientGoldens are the frames a client sends. Each file is exactly what
// AppendCommand writes for want, and decodes back to want.
var clientGoldens = []struct {
	name string
	want protocol.Command
}{
	{"c_connect", protocol.Command{Type: "connect", ID: 1}},
	{"c_connect_token", protocol.Command{Type: "connect", ID: 1, Token: "eyJ..."}},
	{"c_subscribe", protocol.Command{Type: "subscribe", ID: 4, Channel: "admin:x"}},
	{"c_subscribe_since", protocol.Command{Type: "subscribe", ID: 2, Channel: "chat:lobby",
		Since: &stream.Position{Epoch: "x1", Offset: 41}}},
	{"c_publish", protocol.Command{Type: "publish", ID: 3, Channel: "chat:lobby", Data: raw(`{"text":"yo"}`)}},
	{"c_publish_key", protocol.Command{Type: "publish", ID: 3, Channel: "chat:lobby", Data: raw(`{"text":"yo"}`), Key: "k-123"}},
	{"c_unsubscribe", protocol.Command{Type: "unsubscribe", ID: 5, Channel: "chat:lobby"}},
	{"c_history", protocol.Command{Type: "history", ID: 6, Channel: "chat:lobby",
		Since: &stream.Position{Epoch: "x1", Offset: 41}, Limit: 10}},
	{"c_history_reverse", protocol.Command{Type: "history", ID: 6, Channel: "chat:lobby", Limit: 20, Reverse: true}},
	{"c_presence", protocol.Command{Type: "presence", ID: 7, Channel: "chat:lobby"}},
	{"c_pong", protocol.Command{Type: "pong"}},
	{"c_refresh", protocol.Command{Type: "refresh", ID: 8, Token: "eyJ..."}},
}

// badGoldens are client frames the server refuses. addr is what
// DecodeCommand still returns to address the error reply.
var badGoldens = []struct {
	name     string
	sentinel error
	code     uint32
	addr     protocol.Command
}{
	{"cbad_unknown_type", stream.ErrUnknownCommand, 104, protocol.Command{Type: "teleport", ID: 9}},
	{"cbad_missing_type", stream.ErrBadRequest, 107, protocol.Command{}},
	{"cbad_missing_id", stream.ErrBadRequest, 107, protocol.Command{Type: "subscribe"}},
	{"cbad_zero_id", stream.ErrBadRequest, 107, protocol.Command{Type: "publish"}},
	{"cbad_malformed", stream.ErrBadRequest, 107, protocol.Command{Type: "subscribe", ID: 2}},
	{"cbad_not_object", stream.ErrBadRequest, 107, protocol.Command{}},
	{"cbad_missing_channel", stream.ErrBadRequest, 107, protocol.Command{Type: "subscribe", ID: 2}},
	{"cbad_publish_no_data", stream.ErrBadRequest, 107, protocol.Command{Type: "publish", ID: 3}},
	{"cbad_wrong_field_type", stream.ErrBadRequest, 107, protocol.Command{Type: "history", ID: 6}},
	{"cbad_refresh_no_token", stream.ErrBadRequest, 107, protocol.Command{Type: "refresh", ID: 8}},
}

var (
	alice = stream.ClientInfo{Client: "c8f1...", User: "alice"}
	bob   = stream.ClientInfo{Client: "d93a...", User: "bob", Info: raw(`{"name":"Bob"}`)}

	pubHi = &stream.Publication{Channel: "chat:lobby", Epoch: "x1", Offset: 42,
		Data: raw(`{"text":"hi"}`), Time: 1763884800123}
	pubInfo = &stream.Publication{Channel: "chat:lobby", Epoch: "x1", Offset: 45,
		Data: raw(`{"text":"yo"}`), Time: 1763884800456, Key: "k-123",
		Info: &stream.ClientInfo{Client: "c8f1...", User: "alice", Info: raw(`{"name":"Alice"}`)}}
	pubEscaped = &stream.Publication{Channel: "chat:lobby", Epoch: "x1", Offset: 46,
		Data: raw(`{"text":"h\u00e9llo \"w\" 😀"}`), Time: 1763884800789,
		Key: "q\" b\\ n\n t\t c\x01 é ✓ \u2028 😀"}
	history = []*stream.Publication{
		{Channel: "chat:lobby", Epoch: "x1", Offset: 43, Data: raw(`{"text":"hi"}`), Time: 1763884800123},
		{Channel: "chat:lobby", Epoch: "x1", Offset: 44, Data: raw(`{"text":"there"}`), Time: 1763884800200,
			Info: &stream.ClientInfo{Client: "d93a...", User: "bob"}},
	}
)

// messageFrame is the Frame DecodeFrame gives for p sent as a message.
func messageFrame(typ string, p *stream.Publication) protocol.Frame {
	return protocol.Frame{Type: typ, Channel: p.Channel, Epoch: p.Epoch, Offset: p.Offset,
		Data: p.Data, Time: p.Time, Key: p.Key, Info: p.Info}
}

// serverGoldens are the frames the server sends: encode must write the file
// byte for byte, and DecodeFrame must read it back as want.
var serverGoldens = []struct {
	name   string
	encode func(dst []byte) []byte
	want   protocol.Frame
}{
	{"s_connect",
		func(b []byte) []byte { return protocol.AppendConnectReply(b, 1, "c8f1...", 25) },
		protocol.Frame{Type: "connect", ID: 1, Client: "c8f1...", PingInterval: 25}},
	{"s_subscribe",
		func(b []byte) []byte {
			return protocol.AppendSubscribeReply(b, 2, "chat:lobby", stream.Position{Epoch: "x1", Offset: 44}, true)
		},
		protocol.Frame{Type: "subscribe", ID: 2, Channel: "chat:lobby", Epoch: "x1", Offset: 44, Recovered: true}},
	{"s_subscribe_not_recovered",
		func(b []byte) []byte {
			return protocol.AppendSubscribeReply(b, 2, "chat:lobby", stream.Position{Epoch: "x2", Offset: 3}, false)
		},
		protocol.Frame{Type: "subscribe", ID: 2, Channel: "chat:lobby", Epoch: "x2", Offset: 3}},
	{"s_subscribe_error",
		func(b []byte) []byte {
			return protocol.AppendErrorReply(b, "subscribe", 4, protocol.ErrorFor(stream.ErrPermissionDenied))
		},
		protocol.Frame{Type: "subscribe", ID: 4, Error: &protocol.Error{Code: 103, Message: "permission denied"}}},
	{"s_message",
		func(b []byte) []byte { return protocol.AppendMessage(b, pubHi) },
		messageFrame("message", pubHi)},
	{"s_message_info",
		func(b []byte) []byte { return protocol.AppendMessage(b, pubInfo) },
		messageFrame("message", pubInfo)},
	{"s_message_escaped",
		func(b []byte) []byte { return protocol.AppendMessage(b, pubEscaped) },
		messageFrame("message", pubEscaped)},
	{"s_publication",
		func(b []byte) []byte { return protocol.AppendPublication(b, pubHi) },
		messageFrame("", pubHi)},
	{"s_publish",
		func(b []byte) []byte {
			return protocol.AppendPublishReply(b, 3, stream.Position{Epoch: "x1", Offset: 45})
		},
		protocol.Frame{Type: "publish", ID: 3, Epoch: "x1", Offset: 45}},
	{"s_unsubscribe",
		func(b []byte) []byte { return protocol.AppendUnsubscribeReply(b, 5, "chat:lobby") },
		protocol.Frame{Type: "unsubscribe", ID: 5, Channel: "chat:lobby"}},
	{"s_history",
		func(b []byte) []byte {
			return protocol.AppendHistoryReply(b, 6, "chat:lobby", history, stream.Position{Epoch: "x1", Offset: 44})
		},
		protocol.Frame{Type: "history", ID: 6, Channel: "chat:lobby", Epoch: "x1", Offset: 44, Publications: history}},
	{"s_history_empty",
		func(b []byte) []byte {
			return protocol.AppendHistoryReply(b, 6, "chat:lobby", nil, stream.Position{Epoch: "x1"})
		},
		protocol.Frame{Type: "history", ID: 6, Channel: "chat:lobby", Epoch: "x1", Publications: []*stream.Publication{}}},
	{"s_presence",
		func(b []byte) []byte {
			return protocol.AppendPresenceReply(b, 7, "chat:lobby", []stream.ClientInfo{alice, bob})
		},
		protocol.Frame{Type: "presence", ID: 7, Channel: "chat:lobby", Clients: []stream.ClientInfo{alice, bob}}},
	{"s_refresh",
		func(b []byte) []byte { return protocol.AppendRefreshReply(b, 8, 1763888400) },
		protocol.Frame{Type: "refresh", ID: 8, Expires: 1763888400}},
	{"s_ping",
		protocol.AppendPing,
		protocol.Frame{Type: "ping"}},
	{"s_join",
		func(b []byte) []byte { return protocol.AppendPresenceEvent(b, "chat:lobby", true, &bob) },
		protocol.Frame{Type: "join", Channel: "chat:lobby", Client: bob.Client, User: bob.User, Info: &bob}},
	{"s_leave",
		func(b []byte) []byte {
			return protocol.AppendPresenceEvent(b, "chat:lobby", false, &stream.ClientInfo{Client: "d93a...", User: "bob"})
		},
		protocol.Frame{Type: "leave", Channel: "chat:lobby", Client: "d93a...", User: "bob",
			Info: &stream.ClientInfo{Client: "d93a...", User: "bob"}}},
	{"s_unsubscribed",
		func(b []byte) []byte {
			return protocol.AppendUnsubscribed(b, "chat:lobby", protocol.ErrorFor(stream.ErrPermissionDenied))
		},
		protocol.Frame{Type: "unsubscribed", Channel: "chat:lobby", Code: 103, Reason: "permission denied"}},
	{"s_gap",
		func(b []byte) []byte {
			return protocol.AppendGap(b, "chat:lobby", stream.Position{Epoch: "x1", Offset: 44}, "x2")
		},
		protocol.Frame{Type: "gap", Channel: "chat:lobby", From: &stream.Position{Epoch: "x1", Offset: 44}, Epoch: "x2"}},
	{"s_disconnect",
		func(b []byte) []byte { return protocol.AppendDisconnect(b, protocol.DisconnectFor(stream.ErrShutdown)) },
		protocol.Frame{Type: "disconnect", Code: 3001, Reason: "shutdown", Reconnect: true}},
	{"s_disconnect_invalid_token",
		func(b []byte) []byte {
			return protocol.AppendDisconnect(b, protocol.DisconnectFor(stream.ErrInvalidToken))
		},
		protocol.Frame{Type: "disconnect", Code: 3500, Reason: "invalid token"}},
	{"s_error",
		func(b []byte) []byte {
			return protocol.AppendErrorReply(b, "error", 0, protocol.Error{Code: 107, Message: "bad request: malformed JSON"})
		},
		protocol.Frame{Type: "error", Error: &protocol.Error{Code: 107, Message: "bad request: malformed JSON"}}},
	{"s_error_unknown_command",
		func(b []byte) []byte {
			c, err := protocol.DecodeCommand([]byte(`{"type":"teleport","id":9}`))
			return protocol.AppendErrorReply(b, c.Type, c.ID, protocol.ErrorFor(err))
		},
		protocol.Frame{Type: "teleport", ID: 9, Error: &protocol.Error{Code: 104, Message: `unknown command: "teleport"`}}},
	{"s_error_body",
		func(b []byte) []byte {
			return protocol.AppendErrorBody(b, protocol.ErrorFor(stream.ErrPermissionDenied))
		},
		protocol.Frame{Error: &protocol.Error{Code: 103, Message: "permission denied"}}},
}

func TestGoldenCommands(t *testing.T) {
	for _, tt := range clientGoldens {
		t.Run(tt.name, func(t *testing.T) {
			b := readGolden(t, tt.name)
			got, err := protocol.DecodeCommand(b)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("DecodeCommand (-want +got):\n%s", d)
			}
			if enc := protocol.AppendCommand(nil, tt.want); string(enc) != string(b) {
				t.Errorf("AppendCommand:\n got %s\nwant %s", enc, b)
			}
		})
	}
}

func TestGoldenBadCommands(t *testing.T) {
	for _, tt := range badGoldens {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.DecodeCommand(readGolden(t, tt.name))
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("DecodeCommand error = %v, want one wrapping %v", err, tt.sentinel)
			}
			if d := cmp.Diff(tt.addr, got); d != "" {
				t.Errorf("returned Command (-want +got):\n%s", d)
			}
			if code := protocol.ErrorFor(err).Code; code != tt.code {
				t.Errorf("ErrorFor(%v).Code = %d, want %d", err, code, tt.code)
			}
		})
	}
}

func TestGoldenFrames(t *testing.T) {
	for _, tt := range serverGoldens {
		t.Run(tt.name, func(t *testing.T) {
			want := readGolden(t, tt.name)
			if got := tt.encode(nil); string(got) != string(want) {
				t.Errorf("encoder:\n got %s\nwant %s", got, want)
			}
			// Appending must leave what dst held alone.
			if got := tt.encode([]byte("prefix")); string(got) != "prefix"+string(want) {
				t.Errorf("encoder after a prefix:\n got %s\nwant prefix%s", got, want)
			}
			f, err := protocol.DecodeFrame(want)
			if err != nil {
				t.Fatalf("DecodeFrame: %v", err)
			}
			if d := cmp.Diff(tt.want, f); d != "" {
				t.Errorf("DecodeFrame (-want +got):\n%s", d)
			}
		})
	}
}

// TestGoldenFilesListed keeps the directory, the tests and the README that
// the TypeScript SDK reads in step.
func TestGoldenFilesListed(t *testing.T) {
	var tested []string
	for _, g := range clientGoldens {
		tested = append(tested, g.name)
	}
	for _, g := range badGoldens {
		tested = append(tested, g.name)
	}
	for _, g := range serverGoldens {
		tested = append(tested, g.name)
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(goldenDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if !slices.Contains(tested, name) {
			t.Errorf("%s has no test", f)
		}
		if !strings.Contains(string(readme), "`"+name+".json`") {
			t.Errorf("%s is not in README.md", f)
		}
		b, _ := os.ReadFile(f)
		if len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
			t.Errorf("%s ends in whitespace", f)
		}
	}
	if len(files) != len(tested) {
		t.Errorf("%d golden files, %d tested", len(files), len(tested))
	}
}

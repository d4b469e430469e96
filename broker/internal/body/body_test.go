package body_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/stream"
)

// The body is not part of any API, but every node reads what other nodes
// wrote with it, so it must round-trip and must never panic on bytes that
// did not come from a node.

func TestRoundTrip(t *testing.T) {
	for _, req := range []stream.PublishRequest{
		{Data: json.RawMessage(`{"a":1}`)},
		{Data: json.RawMessage(`"x"`), Key: "k-1"},
		{Data: json.RawMessage(`[1, 2]`), Info: &stream.ClientInfo{Client: "c", User: "u", Info: json.RawMessage(`{"r":"admin"}`)}},
		{Data: json.RawMessage(`null`), Key: "ключ", Info: &stream.ClientInfo{Client: "c"}},
		{Key: strings.Repeat("k", 300), Data: json.RawMessage(strings.Repeat("1", 1<<16))},
	} {
		b := body.Encode(&req)
		if len(b) != cap(b) {
			t.Errorf("Encode(%+v): %d bytes in a slice of capacity %d, want exactly its size", req, len(b), cap(b))
		}
		checkRoundTrip(t, &req, b)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           nil,
		"one byte":        {0x01},
		"later format":    {0x02, 0x00, '1'},
		"unknown flag":    {0x01, 0x04, '1'},
		"key cut short":   {0x01, 0x01, 5, 'k'},
		"info cut short":  {0x01, 0x02, 1, 'c', 1},
		"length overflow": {0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	} {
		var p stream.Publication
		if err := body.Decode(b, &p); !errors.Is(err, body.ErrMalformed) {
			t.Errorf("%s: Decode(%q) = %v, want ErrMalformed", name, b, err)
		}
	}
}

// FuzzBody: whatever a broker holds, decoding never panics and fails only
// with ErrMalformed, and what encodes decodes to itself.
func FuzzBody(f *testing.F) {
	// raw is decoded as found in storage; the rest is encoded, then decoded.
	type seed struct {
		raw                     []byte
		key, client, user, info string
		data                    []byte
		withInfo                bool
	}
	for _, s := range []seed{
		{data: []byte(`{"text":"hi"}`)},
		{key: "k-1", client: "c-1", user: "u-1", info: `{"role":"admin"}`, data: []byte(`"ünïcödé"`), withInfo: true},
		{key: strings.Repeat("k", 200)},
		{client: "c", data: []byte("0"), withInfo: true},
		{raw: []byte{0x01, 0, '1'}, data: []byte{0x01, 0, '1'}},
		{raw: []byte{0x01, 0x03, 1, 'k', 1, 'c', 0, 0, '{', '}'}, key: "k", client: "c", user: "u", withInfo: true,
			data: []byte{0x01, 0x03, 1, 'k', 1, 'c', 0, 0, '{', '}'}},
		{raw: []byte{2, 0}, key: "key", data: []byte{2, 0}},
	} {
		f.Add(s.raw, s.key, s.client, s.user, s.info, s.data, s.withInfo)
	}
	f.Fuzz(func(t *testing.T, raw []byte, key, client, user, info string, data []byte, withInfo bool) {
		var p stream.Publication
		if err := body.Decode(raw, &p); err != nil && !errors.Is(err, body.ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}

		req := stream.PublishRequest{Key: key, Data: json.RawMessage(data)}
		if withInfo {
			req.Info = &stream.ClientInfo{Client: client, User: user, Info: json.RawMessage(info)}
		}
		checkRoundTrip(t, &req, body.Encode(&req))
	})
}

func checkRoundTrip(t *testing.T, req *stream.PublishRequest, b []byte) {
	t.Helper()
	var p stream.Publication
	if err := body.Decode(b, &p); err != nil {
		t.Fatalf("decoding what was encoded from %+v: %v", req, err)
	}
	if p.Key != req.Key || !bytes.Equal(p.Data, req.Data) {
		t.Fatalf("key %q data %q, want %q %q", p.Key, p.Data, req.Key, req.Data)
	}
	switch {
	case req.Info == nil && p.Info != nil:
		t.Fatalf("info %+v appeared", p.Info)
	case req.Info != nil && (p.Info == nil || p.Info.Client != req.Info.Client || p.Info.User != req.Info.User ||
		!bytes.Equal(p.Info.Info, req.Info.Info)):
		t.Fatalf("info %+v, want %+v", p.Info, req.Info)
	}
}

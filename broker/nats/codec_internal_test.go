package nats

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/stream"
)

func TestBodyRoundTrip(t *testing.T) {
	for _, req := range []stream.PublishRequest{
		{Data: json.RawMessage(`{"a":1}`)},
		{Data: json.RawMessage(`"x"`), Key: "k-1"},
		{Data: json.RawMessage(`[1, 2]`), Info: &stream.ClientInfo{Client: "c", User: "u", Info: json.RawMessage(`{"r":"admin"}`)}},
		{Data: json.RawMessage(`null`), Key: "ключ", Info: &stream.ClientInfo{Client: "c"}},
	} {
		var p stream.Publication
		if err := decodeBody(encodeBody(&req), &p); err != nil {
			t.Fatalf("decode(encode(%+v)): %v", req, err)
		}
		if !bytes.Equal(p.Data, req.Data) || p.Key != req.Key {
			t.Errorf("round trip of %+v: data %s key %q", req, p.Data, p.Key)
		}
		if (p.Info == nil) != (req.Info == nil) || p.Info != nil &&
			(p.Info.Client != req.Info.Client || p.Info.User != req.Info.User || !bytes.Equal(p.Info.Info, req.Info.Info)) {
			t.Errorf("round trip of %+v: info %+v", req, p.Info)
		}
	}
}

func TestReadEntry(t *testing.T) {
	now := time.UnixMilli(1763884800123)
	e, err := readEntry(7, publicationHeader("ep", 3, 5, 100, 60000, 2), []byte("body"), now)
	if err != nil {
		t.Fatal(err)
	}
	want := entry{seq: 7, prev: 5, epoch: "ep", offset: 3, size: 100, ttl: 60000, floor: 2, ms: now.UnixMilli()}
	if string(e.body) != "body" {
		t.Errorf("body %q", e.body)
	}
	e.body = nil
	if !reflect.DeepEqual(e, want) {
		t.Errorf("readEntry = %+v, want %+v", e, want)
	}
	for _, h := range []natsgo.Header{
		{},
		{hdrEpoch: {"ep"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"x"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"3"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"3"}, hdrPrev: {"1"}, hdrHistory: {"1 2"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"3"}, hdrPrev: {"1"}, hdrHistory: {"1 2 x"}},
	} {
		if _, err := readEntry(1, h, nil, now); err == nil {
			t.Errorf("readEntry(%v) accepted it", h)
		}
	}
}

// FuzzDecodeBody: whatever the stream holds, decoding never panics, and
// what encodes decodes to itself.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte{bodyFormat, 0, '1'}, "", "", "")
	f.Add([]byte{bodyFormat, flagKey | flagInfo, 1, 'k', 1, 'c', 0, 0, '{', '}'}, "k", "c", "u")
	f.Add([]byte{2, 0}, "key", "", "")
	f.Fuzz(func(t *testing.T, raw []byte, key, client, user string) {
		var p stream.Publication
		_ = decodeBody(raw, &p)

		req := stream.PublishRequest{Data: raw, Key: key}
		if client != "" {
			req.Info = &stream.ClientInfo{Client: client, User: user}
		}
		var q stream.Publication
		if err := decodeBody(encodeBody(&req), &q); err != nil {
			t.Fatalf("decode(encode): %v", err)
		}
		if !bytes.Equal(q.Data, req.Data) || q.Key != key {
			t.Fatalf("round trip changed data or key")
		}
	})
}

package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

// The codec is tested from inside the package: the body and message
// formats are not part of the API, but every node reads what other nodes
// wrote with them, so they must round-trip and must never panic on bytes
// that did not come from a node.

func FuzzBodyRoundTrip(f *testing.F) {
	f.Add("", "", "", "", `{"text":"hi"}`, false)
	f.Add("k-1", "c-1", "u-1", `{"role":"admin"}`, `"ünïcödé"`, true)
	f.Add(strings.Repeat("k", 200), "", "", "", ``, false)
	f.Add("", "c", "", "", "0", true)
	f.Fuzz(func(t *testing.T, key, client, user, info, data string, withInfo bool) {
		req := stream.PublishRequest{Key: key, Data: json.RawMessage(data)}
		if withInfo {
			req.Info = &stream.ClientInfo{Client: client, User: user, Info: json.RawMessage(info)}
		}
		var p stream.Publication
		if err := decodeBody(encodeBody(&req), &p); err != nil {
			t.Fatalf("decoding what was encoded: %v", err)
		}
		if p.Key != key || !bytes.Equal(p.Data, req.Data) {
			t.Fatalf("key %q data %q, want %q %q", p.Key, p.Data, key, data)
		}
		switch {
		case !withInfo && p.Info != nil:
			t.Fatalf("info %+v appeared", p.Info)
		case withInfo && (p.Info == nil || p.Info.Client != client || p.Info.User != user || !bytes.Equal(p.Info.Info, req.Info.Info)):
			t.Fatalf("info %+v, want %+v", p.Info, req.Info)
		}
	})
}

// FuzzMessage feeds the live-message reader anything; it must either
// decode or fail with errMalformed, never panic.
func FuzzMessage(f *testing.F) {
	body := encodeBody(&stream.PublishRequest{
		Key: "k", Data: json.RawMessage(`{"a":1}`),
		Info: &stream.ClientInfo{Client: "c", User: "u"},
	})
	for _, s := range []string{
		"1 AbCdEf12 42-1763884800123 " + body,
		"1 AbCdEf12 1-0 \x01\x00",
		"1 AbCdEf12 1-0 \x01\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		"2 AbCdEf12 1-0 \x01\x00",
		"1  1-0 \x01\x00",
		"1 e 0-1 \x01\x00",
		"1 e 18446744073709551616-1 \x01\x00",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMessage(s)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if m.offset == 0 {
			t.Fatal("offset 0 accepted")
		}
		p, err := m.publication("ch", strings.Clone(m.epoch))
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if p.Offset != m.offset || p.Time != m.ms || p.Channel != "ch" {
			t.Fatalf("decoded %+v from header %+v", p, m)
		}
	})
}

func TestParseMessage(t *testing.T) {
	req := stream.PublishRequest{Key: "k", Data: json.RawMessage(`{"a":1}`)}
	m, err := parseMessage("1 AbCdEf12 42-1763884800123 " + encodeBody(&req))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.publication("chat:room", "AbCdEf12")
	if err != nil {
		t.Fatal(err)
	}
	want := stream.Publication{Channel: "chat:room", Epoch: "AbCdEf12", Offset: 42, Time: 1763884800123, Key: "k", Data: req.Data}
	if p.Channel != want.Channel || p.Epoch != want.Epoch || p.Offset != want.Offset || p.Time != want.Time ||
		p.Key != want.Key || !bytes.Equal(p.Data, want.Data) || p.Info != nil {
		t.Errorf("decoded %+v, want %+v", *p, want)
	}
}

func TestMetaTTL(t *testing.T) {
	b := &Broker{idleTTL: DefaultIdleTTL}
	idle := DefaultIdleTTL.Milliseconds()
	for _, c := range []struct {
		size               int
		historyTTL, keyTTL int64
		want               int64
	}{
		{10, 0, 300_000, 0},                        // history forever: never forgotten
		{10, 3_600_000, 300_000, 3_600_000 + idle}, // history outlives keys
		{10, 1_000, 300_000, 300_000 + idle},       // keys outlive history
		{0, 3_600_000, 300_000, 300_000 + idle},    // no history: its TTL does not count
		{0, 0, 300_000, 300_000 + idle},
	} {
		if got := b.metaTTL(c.size, c.historyTTL, c.keyTTL); got != c.want {
			t.Errorf("metaTTL(%d, %d, %d) = %d, want %d", c.size, c.historyTTL, c.keyTTL, got, c.want)
		}
	}
}

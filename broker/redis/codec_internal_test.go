package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/stream"
)

// The codec is tested from inside the package: the message format is not
// part of the API, but every node reads what other nodes wrote with it, so
// it must never panic on bytes that did not come from a node. The body
// inside it is package body's, fuzzed there.

// FuzzMessage feeds the live-message reader anything; it must either
// decode or fail with errMalformed, never panic.
func FuzzMessage(f *testing.F) {
	b := string(body.Encode(&stream.PublishRequest{
		Key: "k", Data: json.RawMessage(`{"a":1}`),
		Info: &stream.ClientInfo{Client: "c", User: "u"},
	}))
	for _, s := range []string{
		"1 AbCdEf12 42-1763884800123 " + b,
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
		l := m.live()
		if l.Epoch != m.epoch || l.Offset != m.offset || l.Time != m.ms || string(l.Body) != m.body {
			t.Fatalf("live %+v from header %+v", l, m)
		}
		var p stream.Publication
		if err := body.Decode(l.Body, &p); err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("error %v does not wrap errMalformed", err)
		}
	})
}

func TestParseMessage(t *testing.T) {
	req := stream.PublishRequest{Key: "k", Data: json.RawMessage(`{"a":1}`)}
	m, err := parseMessage("1 AbCdEf12 42-1763884800123 " + string(body.Encode(&req)))
	if err != nil {
		t.Fatal(err)
	}
	l := m.live()
	p := &stream.Publication{Channel: "chat:room", Epoch: l.Epoch, Offset: l.Offset, Time: l.Time}
	if err := body.Decode(l.Body, p); err != nil {
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

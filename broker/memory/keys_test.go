package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/stream"
)

// refused publishes with key and wants stream.ErrTooManyRequests, naming
// the setting that refused it.
func refused(t *testing.T, b *memory.Broker, ch, key, setting string) {
	t.Helper()
	_, err := b.Publish(context.Background(), stream.PublishRequest{Channel: ch, Data: json.RawMessage(`{}`), Key: key, HistorySize: 10})
	if !errors.Is(err, stream.ErrTooManyRequests) || !strings.Contains(err.Error(), setting) {
		t.Fatalf("key %q on %s: %v, want too many requests naming %s", key, ch, err, setting)
	}
}

// TestKeysPerChannel: at the bound a new key is refused, never a live key
// evicted, so a retry inside the window still answers Duplicate; the
// refused publish stores nothing; keys free up as they expire.
func TestKeysPerChannel(t *testing.T) {
	clk := newClock()
	b := memory.New(memory.Config{Now: clk.Now, KeysPerChannel: 3})
	keyed := func(key string) stream.PublishRequest {
		return stream.PublishRequest{Key: key, KeyTTL: time.Minute, HistorySize: 10}
	}
	for i := 1; i <= 3; i++ {
		if res := publish(t, b, "keys:c", keyed(fmt.Sprint("k", i))); res.Duplicate || res.Offset != uint64(i) {
			t.Fatalf("key %d: %+v", i, res)
		}
	}
	clk.Advance(30 * time.Second)
	refused(t, b, "keys:c", "k4", "limits.keys_per_channel")
	for i := 1; i <= 3; i++ {
		if res := publish(t, b, "keys:c", keyed(fmt.Sprint("k", i))); !res.Duplicate || res.Offset != uint64(i) {
			t.Fatalf("retry of key %d at the bound: %+v, want offset %d, a duplicate", i, res, i)
		}
	}
	if page := history(t, b, "keys:c", all); page.Latest.Offset != 3 || len(page.Publications) != 3 {
		t.Fatalf("refused publish stored something: latest %+v, %d publications", page.Latest, len(page.Publications))
	}
	// Publications without a key, and keys on other channels, go on.
	if res := publish(t, b, "keys:c", stream.PublishRequest{HistorySize: 10}); res.Offset != 4 {
		t.Fatalf("publish without a key at the bound: %+v", res)
	}
	if res := publish(t, b, "keys:other", keyed("k4")); res.Offset != 1 {
		t.Fatalf("another channel: %+v", res)
	}
	// Once the oldest keys expire, new ones are taken without the sweeper.
	clk.Advance(30 * time.Second)
	if res := publish(t, b, "keys:c", keyed("k4")); res.Duplicate || res.Offset != 5 {
		t.Fatalf("key after the others expired: %+v, want offset 5", res)
	}
	if s := b.Stats(); s.Keys != 2 || s.KeyBytes != 2*(2+memory.KeyOverhead) {
		t.Fatalf("stats %+v; want 2 keys (keys:c k4, keys:other k4) of %d bytes", s, 2*(2+memory.KeyOverhead))
	}
}

// TestKeyBytes: the node's key store is bounded in bytes across channels,
// with the same promise as the per-channel bound.
func TestKeyBytes(t *testing.T) {
	clk := newClock()
	long := strings.Repeat("k", stream.MaxKeyLen)
	cost := int64(len(long) + memory.KeyOverhead)
	b := memory.New(memory.Config{Now: clk.Now, KeyBytes: 3 * cost})
	keyed := stream.PublishRequest{Key: long, KeyTTL: time.Minute, HistorySize: 10}
	for i := range 3 {
		publish(t, b, fmt.Sprint("keys:", i), keyed)
	}
	refused(t, b, "keys:3", long, "limits.key_bytes")
	refused(t, b, "keys:0", "short", "limits.key_bytes")
	if res := publish(t, b, "keys:0", keyed); !res.Duplicate {
		t.Fatalf("retry at the bound: %+v, want a duplicate", res)
	}
	if s := b.Stats(); s.Keys != 3 || int64(s.KeyBytes) != 3*cost {
		t.Fatalf("stats %+v; want 3 keys of %d bytes", s, 3*cost)
	}
	if page := history(t, b, "keys:3", all); page.Latest.Offset != 0 {
		t.Fatalf("refused publish stored something: %+v", page.Latest)
	}
	clk.Advance(time.Minute)
	// keys:0's own expired key makes room for its next one.
	if res := publish(t, b, "keys:0", stream.PublishRequest{Key: "next", HistorySize: 10}); res.Offset != 2 {
		t.Fatalf("after the window: %+v", res)
	}
	if keys, bytes := b.KeyStats(); keys != 3 || bytes != 2*cost+4+memory.KeyOverhead {
		t.Fatalf("KeyStats %d keys, %d bytes", keys, bytes)
	}
}

// TestKeyStoreUnderLoad: a flood of unique maximal keys holds the node's key
// store at its bound instead of growing with the flood.
func TestKeyStoreUnderLoad(t *testing.T) {
	const bound = 1 << 20
	b := memory.New(memory.Config{KeyBytes: bound})
	var ok, tooMany int
	for i := range 10_000 {
		key := fmt.Sprintf("%0*d", stream.MaxKeyLen, i)
		_, err := b.Publish(context.Background(), stream.PublishRequest{Channel: fmt.Sprint("flood:", i%50), Data: json.RawMessage(`1`), Key: key})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, stream.ErrTooManyRequests):
			tooMany++
		default:
			t.Fatal(err)
		}
	}
	if _, bytes := b.KeyStats(); bytes > bound || ok != bound/(stream.MaxKeyLen+memory.KeyOverhead) || tooMany == 0 {
		t.Fatalf("%d accepted, %d refused, %d bytes held; want at most %d", ok, tooMany, bytes, bound)
	}
}

package redis

import (
	"strings"
	"testing"
)

// hashTag is the part of a key Redis Cluster hashes: between the first '{'
// and the next '}', when that is not empty; else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestPresenceKeysShareTheChannelSlot: a channel's presence keys hash like
// its history keys, so its scripts run on one Redis Cluster node, and the
// events channel can be no channel's own pub/sub channel.
func TestPresenceKeysShareTheChannelSlot(t *testing.T) {
	b := &Broker{tagOpen: "{sb:"}
	p := NewPresence(b)
	for _, ch := range []string{"chat:lobby", "a", "x}y", "{odd}"} {
		want := hashTag(b.channelKeys(ch)[0])
		for _, k := range append(p.keys(ch), b.channelKeys(ch)...) {
			if got := hashTag(k); got != want {
				t.Errorf("channel %q: key %q hashes %q, want %q", ch, k, got, want)
			}
		}
		if p.events == b.pubsubName(ch) {
			t.Errorf("channel %q: events channel %q is the channel's pub/sub channel", ch, p.events)
		}
	}
	if p.events != "{sb}:presence" {
		t.Errorf("events channel %q", p.events)
	}
}

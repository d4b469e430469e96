package nats

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestCheckVersion(t *testing.T) {
	for _, c := range []struct {
		v       string
		refused bool
	}{
		{"2.9.10", true},
		{"2.10.24", true},
		{"v2.10.0", true},
		{"1.99.99", true},
		{"2.11.0-beta.1", false}, // a pre-release of the version needed: let the API level decide
		{"2.11.0", false},
		{"2.11.4", false},
		{"2.12.1", false},
		{"3.0.0", false},
		{"", false},        // cannot tell: the API level and the stream check decide
		{"garbage", false}, // likewise
		{"2.x.1", false},   // likewise
	} {
		err := checkVersion(c.v)
		if (err != nil) != c.refused {
			t.Errorf("checkVersion(%q) = %v, want refused=%v", c.v, err, c.refused)
			continue
		}
		if err != nil && (!errors.Is(err, errTooOld) || !strings.Contains(err.Error(), MinServerVersion)) {
			t.Errorf("checkVersion(%q) = %v, want errTooOld naming %s", c.v, err, MinServerVersion)
		}
	}
}

// TestCheckStream: a server that kept the stream but dropped a setting it
// does not know (an older server in a cluster) is refused, naming what is
// missing.
func TestCheckStream(t *testing.T) {
	b := &Broker{cfg: Config{Stream: DefaultStream, Prefix: DefaultPrefix, Replicas: 1}}
	full := b.streamConfig()
	if err := checkStream(&full); err != nil {
		t.Fatalf("checkStream(the broker's own settings) = %v", err)
	}
	for name, drop := range map[string]func(*jetstream.StreamConfig){
		"allow_msg_ttl": func(c *jetstream.StreamConfig) { c.AllowMsgTTL = false },
		"allow_direct":  func(c *jetstream.StreamConfig) { c.AllowDirect = false },
		"republish":     func(c *jetstream.StreamConfig) { c.RePublish = nil },
	} {
		got := b.streamConfig()
		drop(&got)
		err := checkStream(&got)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), MinServerVersion) {
			t.Errorf("checkStream without %s = %v, want an error naming it and %s", name, err, MinServerVersion)
		}
	}
}

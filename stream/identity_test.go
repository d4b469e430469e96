package stream_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

func TestIdentityGrants(t *testing.T) {
	id := &stream.Identity{User: "alice", Channels: []string{"chat:lobby", "user:alice/*", "news:*"}}
	tests := map[string]bool{
		"chat:lobby":       true,
		"chat:lobby2":      false,
		"chat:lobb":        false,
		"user:alice/inbox": true,
		"user:alice/":      true,
		"user:alice":       false,
		"user:alicex/a":    false,
		"news:":            true,
		"news:today":       true,
		"news":             false,
		"":                 false,
	}
	for ch, want := range tests {
		if got := id.Grants(ch); got != want {
			t.Errorf("Grants(%q) = %v, want %v", ch, got, want)
		}
	}

	all := &stream.Identity{Channels: []string{"*"}}
	if !all.Grants("anything:at/all") || !all.Grants("") {
		t.Error(`"*" does not grant every channel`)
	}
	var none stream.Identity
	if none.Grants("chat:lobby") {
		t.Error("an identity without channels grants a channel")
	}
}

func TestIdentityAnonymous(t *testing.T) {
	var id stream.Identity
	if !id.Anonymous() {
		t.Error("zero Identity is not anonymous")
	}
	id.User = "alice"
	if id.Anonymous() {
		t.Error("Identity with a user is anonymous")
	}
}

func TestActionString(t *testing.T) {
	tests := map[stream.Action]string{
		stream.ActionSubscribe: "subscribe",
		stream.ActionPublish:   "publish",
		stream.ActionHistory:   "history",
		stream.ActionPresence:  "presence",
		0:                      "unknown",
		99:                     "unknown",
	}
	for a, want := range tests {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", a, got, want)
		}
	}
}

package stream

import (
	"encoding/json"
	"time"
)

// Identity is who a session is, as established from its token. The zero
// Identity is an anonymous client.
type Identity struct {
	// User is the token's subject; empty for anonymous clients.
	User string
	// Info is application data from the token, shown in presence and in
	// client publications.
	Info json.RawMessage
	// Channels lists the channels the token grants beyond what the
	// namespaces allow everyone. An entry ending in "*" grants every channel
	// with that prefix.
	Channels []string
	// ExpiresAt is when the token stops being accepted: its exp plus the
	// clock skew the verifier allows (token.leeway); zero means never.
	ExpiresAt time.Time
	// IssuedAt is when the token was issued (its iat); zero when it does
	// not say.
	IssuedAt time.Time
}

// Anonymous reports whether the identity carries no user.
func (id *Identity) Anonymous() bool { return id.User == "" }

// Grants reports whether the token's channel claim covers ch.
func (id *Identity) Grants(ch string) bool {
	for _, c := range id.Channels {
		if c == ch {
			return true
		}
		if n := len(c); n > 0 && c[n-1] == '*' && len(ch) >= n-1 && ch[:n-1] == c[:n-1] {
			return true
		}
	}
	return false
}

// Action is what a client asks permission for on a channel.
type Action uint8

const (
	ActionSubscribe Action = iota + 1
	ActionPublish
	ActionHistory
	ActionPresence
)

func (a Action) String() string {
	switch a {
	case ActionSubscribe:
		return "subscribe"
	case ActionPublish:
		return "publish"
	case ActionHistory:
		return "history"
	case ActionPresence:
		return "presence"
	}
	return "unknown"
}

package testkit

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Verifier is a token verifier with fixed rules, for tests of the
// transports that need tokens without signing any:
//
//   - "good:<user>" is <user>, valid for an hour;
//   - "brief:<user>" is <user>, valid for 300ms (a token that expires while
//     the connection is open);
//   - "expired:<user>" is refused with [stream.ErrTokenExpired];
//   - anything else is refused with [stream.ErrInvalidToken].
//
// The zero Verifier is ready to use and safe for concurrent use.
type Verifier struct{}

// BriefValidity is how long a "brief:" token is valid.
const BriefValidity = 300 * time.Millisecond

// Verify checks token by the rules of [Verifier].
func (Verifier) Verify(token string) (stream.Identity, error) {
	kind, user, _ := strings.Cut(token, ":")
	switch kind {
	case "good":
		return stream.Identity{User: user, ExpiresAt: time.Now().Add(time.Hour)}, nil
	case "brief":
		return stream.Identity{User: user, ExpiresAt: time.Now().Add(BriefValidity)}, nil
	case "expired":
		return stream.Identity{}, fmt.Errorf("%w: exp in the past", stream.ErrTokenExpired)
	}
	return stream.Identity{}, fmt.Errorf("%w: unknown token", stream.ErrInvalidToken)
}

// Policy is a channel policy with fixed rules: admin: channels are refused
// to everyone, private: channels to anonymous clients, and clients publish
// on chat: channels only. Everything else is allowed.
//
// The zero Policy is ready to use and safe for concurrent use.
type Policy struct{}

// Allow applies the rules of [Policy].
func (Policy) Allow(id *stream.Identity, a stream.Action, ch string, _ *stream.Namespace) error {
	switch {
	case strings.HasPrefix(ch, "admin:"),
		strings.HasPrefix(ch, "private:") && id.Anonymous(),
		a == stream.ActionPublish && !strings.HasPrefix(ch, "chat:"):
		return fmt.Errorf("%w: %s %s", stream.ErrPermissionDenied, a, ch)
	}
	return nil
}

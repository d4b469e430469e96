package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// Control carries control messages — such as "disconnect this user" — from
// one node to every node, the sender included. Messages are opaque to the
// implementation; the hub encodes and reads them. Memory, Redis and NATS
// implement it; broker/controltest is the suite every implementation
// passes. All methods are safe for concurrent use.
type Control interface {
	// Run delivers every node's control messages until ctx ends, calling
	// deliver one message at a time. deliver must not block for long.
	Run(ctx context.Context, deliver func(msg []byte)) error

	// Publish sends msg to every node's Run. It fails, wrapping
	// stream.ErrUnavailable, when the message cannot be handed to the
	// transport that carries it.
	Publish(ctx context.Context, msg []byte) error
}

// controlMessage is what the hub sends through Control.
type controlMessage struct {
	Type string `json:"type"`
	Node string `json:"node"`
	User string `json:"user,omitempty"`
	// At is when the user was disconnected, Unix milliseconds by the
	// sending node's clock.
	At int64 `json:"at,omitempty"`
}

const controlDisconnect = "disconnect"

// controlTimeout bounds the wait for Control to take a message, so a
// broker that is away fails the request instead of holding it.
const controlTimeout = 5 * time.Second

// revocations remembers, for DisconnectTTL, when each user was
// disconnected, so that tokens issued before then are refused.
type revocations struct {
	mu    sync.Mutex
	users map[string]time.Time // user → disconnected at
	swept time.Time
}

// revokeSweep is how often add drops entries older than the TTL.
const revokeSweep = time.Minute

func (r *revocations) add(user string, at time.Time, ttl time.Duration) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.users == nil {
		r.users = make(map[string]time.Time)
	}
	if prev, ok := r.users[user]; !ok || at.After(prev) {
		r.users[user] = at
	}
	if now.Sub(r.swept) > revokeSweep {
		r.swept = now
		for u, t := range r.users {
			if now.Sub(t) > ttl {
				delete(r.users, u)
			}
		}
	}
}

// since returns when user was last disconnected within ttl.
func (r *revocations) since(user string, ttl time.Duration) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.users[user]
	if ok && time.Since(at) > ttl {
		delete(r.users, user)
		return time.Time{}, false
	}
	return at, ok
}

func newNodeID() string {
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// checkIdentity refuses the token of a user disconnected (by
// DisconnectUserEverywhere, here or on another node) within DisconnectTTL
// when it was issued before the disconnect, or carries no issue time. Token
// times have whole seconds, so a token issued in the second of the
// disconnect is accepted.
func (h *Hub) checkIdentity(id *stream.Identity) error {
	if id.User == "" {
		return nil
	}
	at, ok := h.revoked.since(id.User, h.cfg.DisconnectTTL)
	if !ok {
		return nil
	}
	if id.IssuedAt.IsZero() || id.IssuedAt.Unix() < at.Unix() {
		return fmt.Errorf("%w: the user was disconnected at %s; the token was issued before", stream.ErrInvalidToken, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// DisconnectUserEverywhere ends every session of a user on every node with
// stream.ErrForceDisconnect, and makes every node refuse, for DisconnectTTL,
// the user's tokens issued before now. It sends the order through Control
// first and fails (nothing done) if it cannot; it then acts on this node
// and returns how many sessions ended here. Other nodes act when the
// message reaches them. Without Control it acts on this node only.
func (h *Hub) DisconnectUserEverywhere(ctx context.Context, user string) (int, error) {
	at := time.Now()
	if h.cfg.Control != nil {
		msg, err := json.Marshal(controlMessage{Type: controlDisconnect, Node: h.node, User: user, At: at.UnixMilli()})
		if err != nil {
			return 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, controlTimeout)
		err = h.cfg.Control.Publish(cctx, msg)
		cancel()
		if err != nil {
			if !errors.Is(err, stream.ErrUnavailable) {
				err = fmt.Errorf("%w: %w", stream.ErrUnavailable, err)
			}
			return 0, fmt.Errorf("disconnect %q: %w", user, err)
		}
	}
	h.revoked.add(user, at, h.cfg.DisconnectTTL)
	return h.DisconnectUser(user, stream.ErrForceDisconnect), nil
}

// deliverControl acts on a message from Control. The sending node acted
// already, so it skips its own.
func (h *Hub) deliverControl(b []byte) {
	var m controlMessage
	if err := json.Unmarshal(b, &m); err != nil {
		h.cfg.Logger.Warn("control: dropped a message this node cannot read", "err", err)
		return
	}
	if m.Node == h.node {
		return
	}
	switch m.Type {
	case controlDisconnect:
		if m.User == "" {
			return
		}
		h.revoked.add(m.User, time.UnixMilli(m.At), h.cfg.DisconnectTTL)
		h.DisconnectUser(m.User, stream.ErrForceDisconnect)
	default:
		h.cfg.Logger.Debug("control: ignored a message of an unknown type", "type", m.Type)
	}
}

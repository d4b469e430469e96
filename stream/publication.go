package stream

import (
	"encoding/json"
	"time"
)

// Publication is one message in a channel's history. Offsets are assigned by
// the broker: within one epoch they start at 1 and grow by exactly one, so a
// subscriber that sees a gap knows it missed something.
//
// A Publication handed out by a broker or the hub is shared by every
// subscriber and must be treated as read-only.
type Publication struct {
	Channel string
	Epoch   string
	Offset  uint64
	// Data is one JSON value, stored and sent as the publisher gave it.
	Data json.RawMessage
	// Time is when the broker accepted the publication, in Unix milliseconds.
	Time int64
	// Key is the publisher's idempotency key, if it gave one.
	Key string
	// Info names the client that published, for publications that came from a
	// client rather than the HTTP API.
	Info *ClientInfo
}

// Position returns where a subscriber is once it has seen p.
func (p *Publication) Position() Position {
	return Position{Epoch: p.Epoch, Offset: p.Offset}
}

// ClientInfo identifies one connection of one user, as shown in presence,
// join/leave pushes and client publications.
type ClientInfo struct {
	Client string          `json:"client"`
	User   string          `json:"user,omitempty"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// Position is where a subscriber is in a channel: the last offset it has seen
// in one epoch. Offsets only compare within the same epoch.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// IsZero reports whether p is the zero Position (no epoch known).
func (p Position) IsZero() bool { return p.Epoch == "" && p.Offset == 0 }

// PublishRequest asks a broker to append one publication to a channel.
// The hub fills the history settings from the channel's namespace, so
// brokers need no namespace configuration of their own.
type PublishRequest struct {
	Channel string
	Data    json.RawMessage
	// Key is an optional idempotency key: a second publish with the same key
	// to the same channel within KeyTTL returns the first position and
	// delivers nothing.
	Key  string
	Info *ClientInfo

	// HistorySize is how many publications the channel keeps (0 keeps none,
	// but offsets are still assigned).
	HistorySize int
	// HistoryTTL is how long a publication stays in history (0: forever).
	HistoryTTL time.Duration
	// KeyTTL is the idempotency window (0: DefaultKeyTTL).
	KeyTTL time.Duration
}

// DefaultKeyTTL is the idempotency window used when a request names none.
const DefaultKeyTTL = 5 * time.Minute

// PublishResult is where a publication landed.
type PublishResult struct {
	Position
	// Duplicate is true when the idempotency key had been seen: Position is
	// the first publication's and nothing new was delivered.
	Duplicate bool
}

// HistoryQuery selects publications from a channel's history.
type HistoryQuery struct {
	// Since, when set, selects publications after that position. If its
	// epoch is not the channel's current epoch the page holds no
	// publications; compare Since with the page's Latest to tell.
	Since *Position
	// Limit caps the number of publications: 0 returns none (only the
	// channel's positions), a negative limit returns all that match.
	Limit int
	// Reverse returns the newest publications first. With Since unset it
	// pages back from the latest publication.
	Reverse bool
}

// HistoryPage is one answer to a HistoryQuery.
type HistoryPage struct {
	Publications []*Publication
	// Latest is the channel's current epoch and the offset of its newest
	// publication (0 when it has none yet). Asking for history creates the
	// channel's epoch if it had none.
	Latest Position
	// Earliest is the offset of the oldest publication still in history, or
	// Latest.Offset+1 when history is empty.
	Earliest uint64
}

// Recoverable reports whether every publication after since is still in the
// history described by the page: same epoch, not older than history and not
// ahead of the channel.
func (p HistoryPage) Recoverable(since Position) bool {
	if since.Epoch != p.Latest.Epoch || since.Offset > p.Latest.Offset {
		return false
	}
	return since.Offset+1 >= p.Earliest
}

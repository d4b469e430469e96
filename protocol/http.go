package protocol

import (
	"encoding/json"
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// The HTTP bodies below are the same for a client (POST /connection/publish,
// GET /connection/presence, GET /connection/history) and for a backend
// (POST /api/publish, GET /api/presence, GET /api/history): one type per
// shape, so the two cannot drift apart. They are plain structs for
// encoding/json; unlike the frames above, they are written once per request
// and never fanned out.

// PublishRequest is the body of POST /connection/publish and
// POST /api/publish:
//
//	{"channel":"chat:lobby","data":{"text":"hi"},"key":"k-1"}
//
// Data is any JSON value; Key is an optional idempotency key.
type PublishRequest struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	Key     string          `json:"key"`
}

// PublishReply answers a publish with where the publication landed:
//
//	{"epoch":"x1","offset":45}
//
// For a repeated key it is the first publication's position and Duplicate
// is set ("duplicate":true): nothing new was delivered.
type PublishReply struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// NewPublishReply is the reply for res.
func NewPublishReply(res stream.PublishResult) PublishReply {
	return PublishReply{Epoch: res.Epoch, Offset: res.Offset, Duplicate: res.Duplicate}
}

// PresenceReply answers GET /connection/presence and GET /api/presence:
//
//	{"channel":"chat:lobby","clients":[{"client":"c1","user":"u1","info":{...}}]}
//
// Clients is never null: an empty channel lists [].
type PresenceReply struct {
	Channel string              `json:"channel"`
	Clients []stream.ClientInfo `json:"clients"`
}

// NewPresenceReply is the reply listing clients in channel.
func NewPresenceReply(channel string, clients []stream.ClientInfo) PresenceReply {
	if clients == nil {
		clients = []stream.ClientInfo{}
	}
	return PresenceReply{Channel: channel, Clients: clients}
}

// HistoryReply answers GET /connection/history and GET /api/history with a
// history page: the channel's latest position and the selected
// publications, each in the shape every transport sends (AppendPublication):
//
//	{"channel":"chat:lobby","epoch":"x1","offset":45,"publications":[...]}
//
// These are the fields of the WebSocket history reply, without its type and
// id.
type HistoryReply struct {
	Channel      string            `json:"channel"`
	Epoch        string            `json:"epoch"`
	Offset       uint64            `json:"offset"`
	Publications []json.RawMessage `json:"publications"`
}

// NewHistoryReply encodes page for channel.
func NewHistoryReply(channel string, page stream.HistoryPage) HistoryReply {
	r := HistoryReply{
		Channel:      channel,
		Epoch:        page.Latest.Epoch,
		Offset:       page.Latest.Offset,
		Publications: make([]json.RawMessage, 0, len(page.Publications)),
	}
	for _, p := range page.Publications {
		r.Publications = append(r.Publications, AppendPublication(nil, p))
	}
	return r
}

// RequireData checks the data of a publish that came as an HTTP body: it
// must be there (JSON null counts) and pass NormalizeData, whose compact
// copy it returns. The error wraps stream.ErrBadRequest.
func RequireData(data json.RawMessage) (json.RawMessage, error) {
	if data == nil {
		return nil, fmt.Errorf("%w: data is required (any JSON value)", stream.ErrBadRequest)
	}
	return NormalizeData(data)
}

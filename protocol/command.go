package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/switchboardhq/switchboard/stream"
)

// The types of the commands a client sends. The server answers each one but
// pong with a frame of the same type and id.
const (
	TypeConnect     = "connect"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypePublish     = "publish"
	TypeHistory     = "history"
	TypePresence    = "presence"
	TypeRefresh     = "refresh"
	TypePong        = "pong"
)

// Command is one frame from a client. Which fields a command uses depends on
// its Type; DecodeCommand checks that the ones it needs are there.
type Command struct {
	Type string `json:"type"`
	// ID ties the reply to the command; every command but pong has one.
	ID uint64 `json:"id,omitempty"`
	// Token is the JWT of connect (optional) and refresh.
	Token string `json:"token,omitempty"`
	// Channel is the channel of subscribe, unsubscribe, publish, history
	// and presence. Its name is checked by the hub, not here.
	Channel string `json:"channel,omitempty"`
	// Since is the position a subscribe resumes from, or the position
	// history starts after.
	Since *stream.Position `json:"since,omitempty"`
	// Data is the JSON value a publish sends, compacted.
	Data json.RawMessage `json:"data,omitempty"`
	// Key is a publish's idempotency key.
	Key string `json:"key,omitempty"`
	// Limit caps the publications a history returns.
	Limit int `json:"limit,omitempty"`
	// Reverse asks history for the newest publications first.
	Reverse bool `json:"reverse,omitempty"`
}

// commandNeeds says which fields each command type must carry.
var commandNeeds = map[string]struct{ id, channel, data, token bool }{
	TypeConnect:     {id: true},
	TypeSubscribe:   {id: true, channel: true},
	TypeUnsubscribe: {id: true, channel: true},
	TypePublish:     {id: true, channel: true, data: true},
	TypeHistory:     {id: true, channel: true},
	TypePresence:    {id: true, channel: true},
	TypeRefresh:     {id: true, token: true},
	TypePong:        {},
}

// DecodeCommand reads one client frame. The Command holds its own copies of
// everything, so b may be reused as soon as it returns.
//
// Errors wrap stream.ErrBadRequest, or stream.ErrUnknownCommand for a type
// the server does not know. A frame that is not valid Unicode text (see
// CheckText) is refused, never rewritten. Fields the server knows nothing of are ignored,
// so clients newer than the server still work.
//
// On error the returned Command holds only Type and ID, as far as they could
// be read (even from a frame that breaks off later), so that the server can
// address its reply with AppendErrorReply(dst, c.Type, c.ID, ErrorFor(err)).
// ID is only set when Type is: a reply needs both.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	typeErr, err := decodeCommand(b, &c)
	var addr Command
	if c.Type != "" {
		addr = Command{Type: c.Type, ID: c.ID}
	}
	if err != nil {
		return addr, err
	}
	if c.Type == "" {
		if typeErr != nil && typeErr.field == "type" {
			return addr, fmt.Errorf("%w: %w", stream.ErrBadRequest, typeErr)
		}
		return addr, fmt.Errorf("%w: missing type", stream.ErrBadRequest)
	}
	need, known := commandNeeds[c.Type]
	switch {
	case !known:
		return addr, fmt.Errorf("%w: %q", stream.ErrUnknownCommand, clip(c.Type, 64))
	case typeErr != nil:
		return addr, fmt.Errorf("%w: %w", stream.ErrBadRequest, typeErr)
	case need.id && c.ID == 0:
		return addr, fmt.Errorf("%w: missing id", stream.ErrBadRequest)
	case need.channel && c.Channel == "":
		return addr, fmt.Errorf("%w: missing channel", stream.ErrBadRequest)
	case need.data && len(c.Data) == 0:
		return addr, fmt.Errorf("%w: missing data", stream.ErrBadRequest)
	case need.token && c.Token == "":
		return addr, fmt.Errorf("%w: missing token", stream.ErrBadRequest)
	}
	// Checked after decoding, so that the reply carries the command's id.
	// The scanner would turn invalid UTF-8 into U+FFFD, making different
	// keys (or tokens) equal; data is sent on as it is, in WebSocket text
	// frames that must be UTF-8.
	if err := CheckText(b); err != nil {
		return addr, err
	}
	return c, nil
}

// AppendCommand appends c as a client frame: type and id first, then the
// other fields in the order Command declares them, empty ones left out.
// c.Data must hold one JSON value.
func AppendCommand(dst []byte, c Command) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, c.Type)
	if c.ID != 0 {
		dst = append(dst, `,"id":`...)
		dst = strconv.AppendUint(dst, c.ID, 10)
	}
	if c.Token != "" {
		dst = append(dst, `,"token":`...)
		dst = appendString(dst, c.Token)
	}
	if c.Channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = appendString(dst, c.Channel)
	}
	if c.Since != nil {
		dst = append(dst, `,"since":`...)
		dst = appendPosition(dst, *c.Since)
	}
	if len(c.Data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = appendRaw(dst, c.Data)
	}
	if c.Key != "" {
		dst = append(dst, `,"key":`...)
		dst = appendString(dst, c.Key)
	}
	if c.Limit != 0 {
		dst = append(dst, `,"limit":`...)
		dst = strconv.AppendInt(dst, int64(c.Limit), 10)
	}
	if c.Reverse {
		dst = append(dst, `,"reverse":true`...)
	}
	return append(dst, '}')
}

func appendPosition(dst []byte, p stream.Position) []byte {
	dst = append(dst, `{"epoch":`...)
	dst = appendString(dst, p.Epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, p.Offset, 10)
	return append(dst, '}')
}

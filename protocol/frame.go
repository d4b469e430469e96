package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/stream"
)

// The types of the frames the server pushes unasked. A reply carries the
// type of the command it answers.
const (
	TypeMessage      = "message"
	TypePing         = "ping"
	TypeJoin         = "join"
	TypeLeave        = "leave"
	TypeUnsubscribed = "unsubscribed"
	TypeGap          = "gap"
	TypeDisconnect   = "disconnect"
	TypeError        = "error"
)

// Frame is any frame the server sends, decoded: each frame type fills the
// fields its encoder writes and leaves the others zero. It is what the Go
// client and the tests read; the server itself only ever encodes.
type Frame struct {
	// Type is empty for a bare publication, as SSE and polling carry it.
	Type string
	// ID is the command's id in a reply, 0 in a push.
	ID uint64

	Client       string // connect reply; join and leave
	User         string // join and leave
	PingInterval int    // connect reply, in seconds

	Channel   string
	Epoch     string
	Offset    uint64
	Recovered bool // subscribe reply; false in a gap
	// From is the position a gap push says the subscriber had; Epoch is
	// then the channel's new one.
	From *stream.Position

	// Data, Time and Key belong to a message or publication.
	Data json.RawMessage
	Time int64
	Key  string
	// Info is who published a message, or who joined or left: for join and
	// leave it repeats Client and User and holds the top-level "info".
	Info *stream.ClientInfo

	Publications []*stream.Publication // history reply
	Clients      []stream.ClientInfo   // presence reply
	Expires      int64                 // refresh reply, Unix seconds

	// Error is set in a failed reply, an error push, and an HTTP error body.
	Error *Error

	// Code, Reason and Reconnect belong to unsubscribed (no Reconnect) and
	// disconnect.
	Code      uint32
	Reason    string
	Reconnect bool
}

// wireFrame carries the JSON names; Info is raw because its shape depends on
// the type: a client object in a message, the application's value in join
// and leave.
type wireFrame struct {
	Type         string              `json:"type"`
	ID           uint64              `json:"id"`
	Client       string              `json:"client"`
	User         string              `json:"user"`
	PingInterval int                 `json:"ping_interval"`
	Channel      string              `json:"channel"`
	Epoch        string              `json:"epoch"`
	Offset       uint64              `json:"offset"`
	Recovered    bool                `json:"recovered"`
	From         *stream.Position    `json:"from"`
	Data         json.RawMessage     `json:"data"`
	Time         int64               `json:"time"`
	Key          string              `json:"key"`
	Info         json.RawMessage     `json:"info"`
	Publications []wirePublication   `json:"publications"`
	Clients      []stream.ClientInfo `json:"clients"`
	Expires      int64               `json:"expires"`
	Error        *Error              `json:"error"`
	Code         uint32              `json:"code"`
	Reason       string              `json:"reason"`
	Reconnect    bool                `json:"reconnect"`
}

// wirePublication names the fields itself: stream.Publication has no JSON
// tags, and matching on Go field names would be loose.
type wirePublication struct {
	Channel string             `json:"channel"`
	Epoch   string             `json:"epoch"`
	Offset  uint64             `json:"offset"`
	Data    json.RawMessage    `json:"data"`
	Time    int64              `json:"time"`
	Key     string             `json:"key"`
	Info    *stream.ClientInfo `json:"info"`
}

func (w *wirePublication) publication() *stream.Publication {
	return &stream.Publication{
		Channel: w.Channel, Epoch: w.Epoch, Offset: w.Offset,
		Data: w.Data, Time: w.Time, Key: w.Key, Info: w.Info,
	}
}

// DecodeFrame reads one server frame, a bare publication (SSE, polling), or
// an HTTP error body. Fields it does not know are ignored. A frame that is
// not UTF-8 is refused rather than read with U+FFFD in place of its bytes
// (the server never writes one). Errors wrap stream.ErrBadRequest.
func DecodeFrame(b []byte) (Frame, error) {
	if !utf8.Valid(b) {
		return Frame{}, fmt.Errorf("%w: invalid UTF-8 at byte %d", stream.ErrBadRequest, invalidAt(b))
	}
	if f, ok := decodePublicationFast(b); ok {
		return f, nil
	}
	return decodeFrameJSON(b)
}

// decodeFrameJSON is DecodeFrame through encoding/json, for every frame.
func decodeFrameJSON(b []byte) (Frame, error) {
	if !isObject(b) {
		return Frame{}, fmt.Errorf("%w: a frame is one JSON object", stream.ErrBadRequest)
	}
	var w wireFrame
	if err := json.Unmarshal(b, &w); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return Frame{}, fieldError(te)
		}
		return Frame{}, fmt.Errorf("%w: malformed JSON: %v", stream.ErrBadRequest, err)
	}
	f := Frame{
		Type: w.Type, ID: w.ID,
		Client: w.Client, User: w.User, PingInterval: w.PingInterval,
		Channel: w.Channel, Epoch: w.Epoch, Offset: w.Offset, Recovered: w.Recovered, From: w.From,
		Data: w.Data, Time: w.Time, Key: w.Key,
		Clients: w.Clients, Expires: w.Expires, Error: w.Error,
		Code: w.Code, Reason: w.Reason, Reconnect: w.Reconnect,
	}
	if w.Publications != nil {
		f.Publications = make([]*stream.Publication, len(w.Publications))
		for i := range w.Publications {
			f.Publications[i] = w.Publications[i].publication()
		}
	}
	switch {
	case w.Type == TypeJoin || w.Type == TypeLeave:
		f.Info = &stream.ClientInfo{Client: w.Client, User: w.User, Info: w.Info}
	case len(w.Info) > 0 && string(w.Info) != "null":
		var info stream.ClientInfo
		if err := json.Unmarshal(w.Info, &info); err != nil {
			return Frame{}, fmt.Errorf("%w: info must be an object with a client", stream.ErrBadRequest)
		}
		f.Info = &info
	}
	return f, nil
}

// isObject reports whether b starts like a JSON object: json.Unmarshal
// accepts null into a struct, and a frame must be an object.
func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// Publication returns the publication a message frame or a bare publication
// carries, or nil for a frame of any other type.
func (f Frame) Publication() *stream.Publication {
	if f.Type != TypeMessage && f.Type != "" {
		return nil
	}
	return &stream.Publication{
		Channel: f.Channel, Epoch: f.Epoch, Offset: f.Offset,
		Data: f.Data, Time: f.Time, Key: f.Key, Info: f.Info,
	}
}

func fieldError(e *json.UnmarshalTypeError) error {
	want := "a " + e.Type.String()
	switch e.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int64:
		want = "an integer"
	case reflect.Uint32, reflect.Uint64:
		want = "a non-negative integer"
	case reflect.Struct, reflect.Pointer:
		want = "an object"
	case reflect.Slice:
		want = "an array"
	}
	return fmt.Errorf("%w: %s must be %s, not %s", stream.ErrBadRequest, e.Field, want, e.Value)
}

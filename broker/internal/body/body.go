package body

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// The body: a format byte, a flags byte, the optional key and client info,
// each length-prefixed with a uvarint, then the data to the end.
//
//	body = 0x01 flags [uvarint len, key] [uvarint len, client, uvarint len, user, uvarint len, info] data
//
// A node that finds another format byte, or flags it does not know, is
// reading what a later version wrote: it fails with [ErrMalformed] rather
// than guess.
const (
	format     = 0x01
	flagKey    = 1 << 0
	flagInfo   = 1 << 1
	knownFlags = flagKey | flagInfo
)

// ErrMalformed is wrapped by every error of [Decode]: the body is not one
// this node can read, because it was damaged or written in a format this
// version does not know.
var ErrMalformed = errors.New("malformed publication")

// Encode returns the body of req, in a slice of exactly its size.
func Encode(req *stream.PublishRequest) []byte {
	n := 2 + len(req.Data)
	var flags byte
	if req.Key != "" {
		flags |= flagKey
		n += uvarintLen(len(req.Key)) + len(req.Key)
	}
	if req.Info != nil {
		flags |= flagInfo
		n += uvarintLen(len(req.Info.Client)) + len(req.Info.Client) +
			uvarintLen(len(req.Info.User)) + len(req.Info.User) +
			uvarintLen(len(req.Info.Info)) + len(req.Info.Info)
	}
	b := make([]byte, 0, n)
	b = append(b, format, flags)
	if req.Key != "" {
		b = appendField(b, req.Key)
	}
	if req.Info != nil {
		b = appendField(b, req.Info.Client)
		b = appendField(b, req.Info.User)
		b = appendField(b, string(req.Info.Info))
	}
	return append(b, req.Data...)
}

func uvarintLen(n int) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], uint64(n))
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode fills p's Key, Info and Data from body. p.Data and p.Info.Info
// share body's memory, which the caller hands over and must not change;
// the strings are copies.
func Decode(body []byte, p *stream.Publication) error {
	if len(body) < 2 {
		return fmt.Errorf("%w: body of %d bytes", ErrMalformed, len(body))
	}
	if body[0] != format {
		return fmt.Errorf("%w: unknown body format %#x", ErrMalformed, body[0])
	}
	flags := body[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	rest := body[2:]
	var err error
	if flags&flagKey != 0 {
		var key []byte
		if key, rest, err = readField(rest); err != nil {
			return err
		}
		p.Key = string(key)
	}
	if flags&flagInfo != 0 {
		var client, user, info []byte
		if client, rest, err = readField(rest); err != nil {
			return err
		}
		if user, rest, err = readField(rest); err != nil {
			return err
		}
		if info, rest, err = readField(rest); err != nil {
			return err
		}
		ci := &stream.ClientInfo{Client: string(client), User: string(user)}
		if len(info) > 0 {
			ci.Info = json.RawMessage(info)
		}
		p.Info = ci
	}
	if len(rest) > 0 {
		p.Data = json.RawMessage(rest)
	}
	return nil
}

// readField reads one length-prefixed field from the front of b.
func readField(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad field length", ErrMalformed)
	}
	end := k + int(n)
	return b[k:end:end], b[end:], nil
}

package redis

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/stream"
)

// What goes over Redis, in two layers (see the package documentation):
//
// The body is what the publisher gave, encoded once by the node that
// publishes: a format byte, a flags byte, then the optional key and client
// info, each length-prefixed with a uvarint, then the data to the end.
//
//	body = 0x01 flags [uvarint len, key] [uvarint len, client, uvarint len, user, uvarint len, info] data
//
// The history entry is the body under the ID "<offset>-<unix ms>"; the live
// message, built by the publish script, is
//
//	"1 " epoch " " offset "-" unix-ms " " body
//
// The leading "1" versions the message and the first body byte versions
// the body, so a node can tell a format it does not know from garbage.
const (
	bodyFormat   = 0x01
	flagKey      = 1 << 0
	flagInfo     = 1 << 1
	knownFlags   = flagKey | flagInfo
	messageMagic = "1 "
)

var errMalformed = errors.New("malformed publication")

// encodeBody encodes what req carries besides the channel and history
// settings. It returns a string because that is what the Redis client
// sends, and building it in a strings.Builder costs one allocation.
func encodeBody(req *stream.PublishRequest) string {
	var flags byte
	n := 2 + len(req.Data)
	if req.Key != "" {
		flags |= flagKey
		n += binary.MaxVarintLen32 + len(req.Key)
	}
	if req.Info != nil {
		flags |= flagInfo
		n += 3*binary.MaxVarintLen32 + len(req.Info.Client) + len(req.Info.User) + len(req.Info.Info)
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(bodyFormat)
	sb.WriteByte(flags)
	if req.Key != "" {
		writeField(&sb, req.Key)
	}
	if req.Info != nil {
		writeField(&sb, req.Info.Client)
		writeField(&sb, req.Info.User)
		writeField(&sb, string(req.Info.Info))
	}
	sb.Write(req.Data)
	return sb.String()
}

func writeField(sb *strings.Builder, s string) {
	var buf [binary.MaxVarintLen64]byte
	sb.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
	sb.WriteString(s)
}

// decodeBody fills p's Key, Info and Data from body. Every field is copied
// out of body, so a publication never keeps a large Redis reply alive.
func decodeBody(body string, p *stream.Publication) error {
	if len(body) < 2 {
		return fmt.Errorf("%w: body of %d bytes", errMalformed, len(body))
	}
	if body[0] != bodyFormat {
		return fmt.Errorf("%w: unknown body format %#x", errMalformed, body[0])
	}
	flags := body[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", errMalformed, flags)
	}
	rest := body[2:]
	var err error
	if flags&flagKey != 0 {
		var key string
		if key, rest, err = readField(rest); err != nil {
			return err
		}
		p.Key = strings.Clone(key)
	}
	if flags&flagInfo != 0 {
		var client, user, info string
		if client, rest, err = readField(rest); err != nil {
			return err
		}
		if user, rest, err = readField(rest); err != nil {
			return err
		}
		if info, rest, err = readField(rest); err != nil {
			return err
		}
		ci := &stream.ClientInfo{Client: strings.Clone(client), User: strings.Clone(user)}
		if info != "" {
			ci.Info = json.RawMessage(info)
		}
		p.Info = ci
	}
	if rest != "" {
		p.Data = json.RawMessage(rest)
	}
	return nil
}

// readField reads one length-prefixed field from the front of s.
func readField(s string) (field, rest string, err error) {
	n, k := uvarint(s)
	if k <= 0 || n > uint64(len(s)-k) {
		return "", "", fmt.Errorf("%w: bad field length", errMalformed)
	}
	end := k + int(n)
	return s[k:end], s[end:], nil
}

// uvarint is binary.Uvarint for a string, which saves copying the body
// into a byte slice just to read a length.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -1 // overflow
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// parseID reads a history entry ID, "<offset>-<unix ms>".
func parseID(id string) (offset uint64, ms int64, err error) {
	o, t, ok := strings.Cut(id, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: entry ID %q", errMalformed, id)
	}
	if offset, err = strconv.ParseUint(o, 10, 64); err != nil || offset == 0 {
		return 0, 0, fmt.Errorf("%w: entry ID %q", errMalformed, id)
	}
	if ms, err = strconv.ParseInt(t, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: entry ID %q", errMalformed, id)
	}
	return offset, ms, nil
}

// message is a live publication as it came off the pub/sub connection,
// with its header read and its body not yet decoded: the delivery loop
// reads the position first, to drop repeats without decoding them.
type message struct {
	epoch  string // a substring of the message: clone before keeping
	offset uint64
	ms     int64
	body   string
}

// parseMessage reads the header of a live message.
func parseMessage(s string) (message, error) {
	rest, ok := strings.CutPrefix(s, messageMagic)
	if !ok {
		return message{}, fmt.Errorf("%w: unknown message format %.8q", errMalformed, s)
	}
	epoch, rest, ok := strings.Cut(rest, " ")
	if !ok || epoch == "" {
		return message{}, fmt.Errorf("%w: no epoch", errMalformed)
	}
	id, body, ok := strings.Cut(rest, " ")
	if !ok {
		return message{}, fmt.Errorf("%w: no entry ID", errMalformed)
	}
	offset, ms, err := parseID(id)
	if err != nil {
		return message{}, err
	}
	return message{epoch: epoch, offset: offset, ms: ms, body: body}, nil
}

// publication decodes m as a publication of channel in epoch; the caller
// passes the epoch string it keeps, so the publication does not pin the
// whole message in memory.
func (m message) publication(channel, epoch string) (*stream.Publication, error) {
	p := &stream.Publication{Channel: channel, Epoch: epoch, Offset: m.offset, Time: m.ms}
	if err := decodeBody(m.body, p); err != nil {
		return nil, err
	}
	return p, nil
}

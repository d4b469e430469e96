package nats

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/stream"
)

// What a channel's messages in the stream hold (see the package doc).
// Positions and history settings travel in headers, so that a reader learns
// where a message stands without decoding its body; the body is what the
// publisher gave.
const (
	hdrEpoch   = "Sb-Epoch"
	hdrOffset  = "Sb-Offset"
	hdrPrev    = "Sb-Prev"    // stream sequence of the channel's previous message
	hdrHistory = "Sb-History" // "<size> <ttl ms> <floor>", see entry

	// Headers the server adds to a republished message.
	hdrTimeStamp = "Nats-Time-Stamp"
	hdrSequence  = "Nats-Sequence"
)

// The body: a format byte, a flags byte, the optional key and client info,
// each length-prefixed with a uvarint, then the data to the end.
//
//	body = 0x01 flags [uvarint len, key] [uvarint len, client, uvarint len, user, uvarint len, info] data
const (
	bodyFormat = 0x01
	flagKey    = 1 << 0
	flagInfo   = 1 << 1
	knownFlags = flagKey | flagInfo
)

var errMalformed = errors.New("malformed publication")

func encodeBody(req *stream.PublishRequest) []byte {
	n := 2 + len(req.Data)
	var flags byte
	if req.Key != "" {
		flags |= flagKey
		n += binary.MaxVarintLen64 + len(req.Key)
	}
	if req.Info != nil {
		flags |= flagInfo
		n += 3*binary.MaxVarintLen64 + len(req.Info.Client) + len(req.Info.User) + len(req.Info.Info)
	}
	b := make([]byte, 0, n)
	b = append(b, bodyFormat, flags)
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

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeBody fills p's Key, Info and Data from body, copying nothing it
// does not have to: body is a buffer the caller hands over.
func decodeBody(body []byte, p *stream.Publication) error {
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

func readField(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad field length", errMalformed)
	}
	end := k + int(n)
	return b[k:end:end], b[end:], nil
}

// entry is one message of a channel's subject, with its headers read: a
// publication, or the marker (offset 0) that starts an epoch.
type entry struct {
	seq    uint64 // stream sequence
	prev   uint64 // stream sequence of the channel's message before it
	epoch  string
	offset uint64
	size   int   // history size it was stored with
	ttl    int64 // history TTL in ms it was stored with, 0: none
	// floor is the lowest offset history may show: everything before it
	// had aged out when this publication was stored.
	floor uint64
	ms    int64 // when JetStream stored it, Unix ms
	body  []byte
}

// readEntry reads what the broker wrote into a message's headers.
func readEntry(seq uint64, hdr natsgo.Header, body []byte, stored time.Time) (entry, error) {
	e := entry{seq: seq, epoch: hdr.Get(hdrEpoch), body: body, ms: stored.UnixMilli()}
	var err error
	if e.offset, err = strconv.ParseUint(hdr.Get(hdrOffset), 10, 64); err != nil || e.epoch == "" {
		return entry{}, fmt.Errorf("%w: message %d has no position", errMalformed, seq)
	}
	if e.offset == 0 {
		return e, nil // a marker: nothing else to read
	}
	if e.prev, err = strconv.ParseUint(hdr.Get(hdrPrev), 10, 64); err != nil {
		return entry{}, fmt.Errorf("%w: message %d: bad %s", errMalformed, seq, hdrPrev)
	}
	f := strings.Fields(hdr.Get(hdrHistory))
	if len(f) != 3 {
		return entry{}, fmt.Errorf("%w: message %d: bad %s", errMalformed, seq, hdrHistory)
	}
	var err1, err2, err3 error
	e.size, err1 = strconv.Atoi(f[0])
	e.ttl, err2 = strconv.ParseInt(f[1], 10, 64)
	e.floor, err3 = strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return entry{}, fmt.Errorf("%w: message %d: bad %s", errMalformed, seq, hdrHistory)
	}
	return e, nil
}

// readLive reads a message the stream republished.
func readLive(m *natsgo.Msg) (entry, error) {
	seq, err := strconv.ParseUint(m.Header.Get(hdrSequence), 10, 64)
	if err != nil {
		return entry{}, fmt.Errorf("%w: republished without %s", errMalformed, hdrSequence)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(hdrTimeStamp))
	if err != nil {
		return entry{}, fmt.Errorf("%w: republished without %s", errMalformed, hdrTimeStamp)
	}
	return readEntry(seq, m.Header, m.Data, ts)
}

// publication decodes e as a publication of channel.
func (e *entry) publication(channel string) (*stream.Publication, error) {
	p := &stream.Publication{Channel: channel, Epoch: e.epoch, Offset: e.offset, Time: e.ms}
	if err := decodeBody(e.body, p); err != nil {
		return nil, fmt.Errorf("offset %d: %w", e.offset, err)
	}
	return p, nil
}

// expired reports whether e is older than its own history TTL at now.
func (e *entry) expired(now time.Time) bool {
	return e.ttl > 0 && e.ms < now.UnixMilli()-e.ttl
}

func (e *entry) position() stream.Position { return stream.Position{Epoch: e.epoch, Offset: e.offset} }

// publicationHeader is the header of a new publication.
func publicationHeader(epoch string, offset, prev uint64, size int, ttlMS int64, floor uint64) natsgo.Header {
	return natsgo.Header{
		hdrEpoch:   {epoch},
		hdrOffset:  {strconv.FormatUint(offset, 10)},
		hdrPrev:    {strconv.FormatUint(prev, 10)},
		hdrHistory: {strconv.Itoa(size) + " " + strconv.FormatInt(ttlMS, 10) + " " + strconv.FormatUint(floor, 10)},
	}
}

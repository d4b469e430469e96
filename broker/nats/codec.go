package nats

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/broker/internal/relay"
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

// errMalformed is body.ErrMalformed: a message whose headers this node
// cannot read is as malformed as a body it cannot read.
var errMalformed = body.ErrMalformed

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
	if err := body.Decode(e.body, p); err != nil {
		return nil, fmt.Errorf("offset %d: %w", e.offset, err)
	}
	return p, nil
}

// live hands e, a live message, to the relay.
func (e *entry) live() relay.Live {
	return relay.Live{Epoch: e.epoch, Offset: e.offset, Time: e.ms, Body: e.body}
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

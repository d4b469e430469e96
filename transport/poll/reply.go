package poll

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// encoder is the hub.Encoder of every poll session, long and short: one
// value, so the hub encodes a publication once for all the polls waiting on
// it and each reply splices in the same bytes.
type encoder struct{}

var pollEncoder hub.Encoder = &encoder{}

func (*encoder) Publication(p *stream.Publication) []byte {
	return protocol.AppendPublication(nil, p)
}

// Ping returns nil: a poll is answered within its timeout, so an idle
// request never needs traffic to stay open.
func (*encoder) Ping() []byte { return nil }

// Presence returns nil: a poll reply carries publications only, and a hold
// must not end early for a join or leave.
func (*encoder) Presence(string, bool, *stream.ClientInfo) []byte { return nil }

// Gap returns the channel's name: a poll carries a gap as the channel in
// its answer's gaps (see reply.appendTo), and the push ends a long poll's
// hold, since the client must reload its state now.
func (*encoder) Gap(g *hub.Gap) []byte { return []byte(g.Channel) }

// Unsubscribed returns nil: a poll's channels are whatever each request
// names, checked against that request's token.
func (*encoder) Unsubscribed(string, error) []byte { return nil }

// reply is one poll's answer in the making: where each channel stands before
// the publications taken from the queue, and which channels could not be
// recovered.
type reply struct {
	cursor    stream.Cursor
	recovered bool
	gaps      []string
	// client is the poll's client id, which the next poll may send back.
	client string
}

// subscribed records where a channel's queue starts. A recovered channel
// resumes from the client's own position, and its replay moves it on; any
// other starts at the channel's latest position at subscribe time, which is
// where the hub started queueing live publications.
func (rp *reply) subscribed(res hub.SubscribeResult, since *stream.Position) {
	switch {
	case since == nil:
		rp.cursor.Set(res.Channel, res.Latest)
	case res.Recovered:
		rp.cursor.Set(res.Channel, *since)
	default:
		rp.cursor.Set(res.Channel, res.Start)
		rp.gap(res.Channel)
	}
}

// gap lists a channel in the answer's gaps, once.
func (rp *reply) gap(channel string) {
	rp.recovered = false
	for _, ch := range rp.gaps {
		if ch == channel {
			return
		}
	}
	rp.gaps = append(rp.gaps, channel)
}

// carried keeps the client's own position for a channel the poll did not
// subscribe because the session had ended; the next poll resumes it. A
// channel the client had no position for is left out, and the next poll
// starts it live, as a first poll does.
func (rp *reply) carried(channel string, since *stream.Position) {
	if since != nil {
		rp.cursor.Set(channel, *since)
	}
}

// appendTo appends the reply body:
//
//	{"publications":[...],"cursor":"...","recovered":true,"gaps":[],"client":"..."}
//
// Each publication's bytes were encoded once by the hub. The cursor is
// advanced past every publication in the reply, in queue order, which the
// hub keeps in offset order per channel, so the last one of each channel
// wins.
func (rp *reply) appendTo(dst []byte, items []hub.Item) []byte {
	dst = append(dst, `{"publications":[`...)
	n := 0
	for _, it := range items {
		if g := it.Gap; g != nil {
			// Listed in gaps, which are written after the publications;
			// those that follow it are the new epoch's.
			rp.gap(g.Channel)
			rp.cursor.Set(g.Channel, g.Position())
			continue
		}
		if it.Pub == nil {
			continue // not a publication: polls carry nothing else
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it.Bytes...)
		rp.cursor.Set(it.Pub.Channel, it.Pub.Position())
		n++
	}
	// Cursors are base64url and channel names are limited to
	// [A-Za-z0-9_:.@/=+-]: neither needs JSON escaping.
	dst = append(dst, `],"cursor":"`...)
	dst = rp.cursor.AppendText(dst)
	dst = append(dst, `","recovered":`...)
	dst = strconv.AppendBool(dst, rp.recovered)
	dst = append(dst, `,"gaps":[`...)
	for i, ch := range rp.gaps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, ch...)
		dst = append(dst, '"')
	}
	// Client ids are [A-Za-z0-9_-] or the hub's hex: no escaping either.
	dst = append(dst, `],"client":"`...)
	dst = append(dst, rp.client...)
	return append(dst, "\"}\n"...)
}

// size estimates the body so it is built without growing.
func (rp *reply) size(items []hub.Item) int {
	n := 112 + len(rp.client) + rp.cursor.Len()*48
	for _, it := range items {
		n += len(it.Bytes) + 1
	}
	for _, ch := range rp.gaps {
		n += len(ch) + 3
	}
	return n
}

// bodies recycles reply buffers: a burst of polls answered together would
// otherwise allocate one body each.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody keeps a rare large reply from pinning its buffer.
const maxPooledBody = 64 << 10

// Header values every reply carries.
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	noSniff  = []string{"nosniff"}
)

func writeReply(w http.ResponseWriter, rp *reply, items []hub.Item) {
	box := bodies.Get().(*[]byte)
	b := *box
	if need := rp.size(items); cap(b) < need {
		b = make([]byte, 0, need)
	}
	b = rp.appendTo(b[:0], items)
	// The keys are canonical already and the values shared: net/http only
	// reads them, and Set would allocate a slice for each on every reply.
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // the client may be gone; it resumes from its cursor
	putBody(box, b)
}

// putBody recycles a reply buffer the reply is done with.
func putBody(box *[]byte, b []byte) {
	if cap(b) > maxPooledBody {
		b = nil
	}
	*box = b[:0]
	bodies.Put(box)
}

package bench

import (
	"bufio"
	"bytes"
	"net"
	"net/url"
	"strconv"
	"time"
)

// The long-poll floor is the least any HTTP long-poll server can do per
// delivery: one read of the request and one write of the reply. The floor
// server takes the requests the bench's long-poll subscribers send a node
// (GET /connection/poll?channel=…&timeout=…&cursor=…, HTTP/1.1, kept
// alive) and answers each with a reply of the size a node's has — the same
// status line and headers, a body carrying the publications, a cursor and
// a client id of a node's lengths — built once per batch of publications
// and written to every waiting poll in one write each. It parses nothing
// it does not need, authenticates no one and keeps no session: a poll
// with a cursor behind the channel is answered at once from the channel's
// recent publications, one at the newest publication waits for the next
// ones, and a poll without a cursor or with timeout=0 is answered at once
// with what is new. A waiting poll is held until a publication comes (the
// bench's polls hold 25 s, and its runs publish well within that).
//
// Each connection has a goroutine that reads its next request: in Go that
// is a read blocked in the runtime's poller, no thread, as a node's kept
// connection waits in its own.
//
// A channel serves either line subscribers or long polls: the first poll
// makes it a polled channel, and from then on its publications go to polls
// only.

// floorHistory is how many of a channel's newest publications the floor
// keeps for polls that are behind.
const floorHistory = 1024

// The shapes of a node's reply: its cursor and client id lengths (one
// channel), and its epoch's.
const (
	floorEpoch    = "floor000"
	floorCursor   = 32
	floorClientID = "floor00000000000"
)

// floorPolls is a polled channel's state, guarded by the channel's mu.
type floorPolls struct {
	last    uint64   // the newest publication's offset
	pubs    [][]byte // the newest publications, oldest first, pubs[len-1] at last
	waiting []net.Conn
	spare   []net.Conn
}

// poller serves one long-poll connection: each request is answered at
// once or left waiting for the fan-out (answerPolls), and the goroutine
// goes on to read the next.
func (f *floorServer) poller(c net.Conn, br *bufio.Reader, line []byte) {
	defer c.Close()
	var reply []byte
	for {
		name, cursor, hasCursor, short := parsePollLine(line)
		// The rest of the head: nothing in it matters to the floor.
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(l) <= 2 && len(bytes.TrimSpace(l)) == 0 {
				break
			}
		}
		if name == "" {
			return
		}
		ch := f.channel(name)
		ch.mu.Lock()
		ch.polled.Store(true)
		ps := &ch.polls
		answer := true
		switch {
		case !hasCursor || cursor > ps.last:
			reply = appendFloorReply(reply[:0], nil, ps.last, time.Now())
		case cursor < ps.last:
			behind := ps.last - cursor
			pubs := ps.pubs
			if behind < uint64(len(pubs)) {
				pubs = pubs[uint64(len(pubs))-behind:]
			}
			reply = appendFloorReply(reply[:0], pubs, ps.last, time.Now())
		case short:
			reply = appendFloorReply(reply[:0], nil, ps.last, time.Now())
		default:
			ps.waiting = append(ps.waiting, c)
			answer = false
		}
		ch.mu.Unlock()
		if answer {
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
		var err error
		if line, err = br.ReadSlice('\n'); err != nil {
			return
		}
	}
}

// answerPolls keeps the batch's publications and answers every waiting
// poll with them: one reply, built once, one write per poll. It runs on
// the fan-out goroutine.
func (ch *floorChannel) answerPolls(now time.Time) {
	ps := &ch.polls
	ch.mu.Lock()
	for _, p := range ch.pollBatch {
		if len(ps.pubs) == floorHistory {
			copy(ps.pubs, ps.pubs[1:])
			ps.pubs = ps.pubs[:floorHistory-1]
		}
		ps.pubs = append(ps.pubs, p)
	}
	ps.last = ch.offset
	waiting := ps.waiting
	ps.waiting, ps.spare = ps.spare[:0], nil
	ch.mu.Unlock()

	ch.msg = appendFloorReply(ch.msg[:0], ch.pollBatch, ch.offset, now)
	for _, c := range waiting {
		_, _ = c.Write(ch.msg) // a poll whose client is gone ends in its reader
	}
	ch.msg = ch.msg[:0]
	clear(ch.pollBatch)
	ch.pollBatch = ch.pollBatch[:0]
	clear(waiting)
	ch.mu.Lock()
	if ps.spare == nil {
		ps.spare = waiting[:0]
	}
	ch.mu.Unlock()
}

// parsePollLine reads a request line's channel, cursor and timeout=0.
func parsePollLine(line []byte) (name string, cursor uint64, hasCursor, short bool) {
	q := line
	if i := bytes.IndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	} else {
		return "", 0, false, false
	}
	if i := bytes.IndexByte(q, ' '); i >= 0 {
		q = q[:i]
	}
	for len(q) > 0 {
		kv := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		k, v, _ := bytes.Cut(kv, []byte("="))
		switch string(k) {
		case "channel":
			name = string(v)
			if bytes.IndexByte(v, '%') >= 0 {
				name, _ = url.QueryUnescape(name)
			}
		case "cursor":
			n, err := strconv.ParseUint(string(v), 10, 64)
			cursor, hasCursor = n, err == nil
		case "timeout":
			short = string(v) == "0"
		}
	}
	return name, cursor, hasCursor, short
}

// appendFloorReply appends a whole response: a node's status line and
// headers, then the body with pubs, a cursor at last and a client id.
func appendFloorReply(dst []byte, pubs [][]byte, last uint64, now time.Time) []byte {
	n := len(`{"publications":[],"cursor":"","recovered":true,"gaps":[],"client":""}`+"\n") + floorCursor + len(floorClientID)
	for i, p := range pubs {
		n += len(p)
		if i > 0 {
			n++ // the comma
		}
	}
	dst = append(dst, "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, "\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nDate: "...)
	dst = now.UTC().AppendFormat(dst, "Mon, 02 Jan 2006 15:04:05 GMT")
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, `{"publications":[`...)
	for i, p := range pubs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, p...)
	}
	dst = append(dst, `],"cursor":"`...)
	var num [20]byte
	digits := strconv.AppendUint(num[:0], last, 10)
	for range floorCursor - len(digits) {
		dst = append(dst, '0')
	}
	dst = append(dst, digits...)
	dst = append(dst, `","recovered":true,"gaps":[],"client":"`...)
	dst = append(dst, floorClientID...)
	dst = append(dst, "\"}\n"...)
	return dst
}

// appendFloorPublication appends a publication as a node's poll reply
// carries it.
func appendFloorPublication(dst []byte, ch string, offset uint64, data []byte, t time.Time) []byte {
	dst = append(dst, `{"channel":"`...)
	dst = append(dst, ch...)
	dst = append(dst, `","epoch":"`+floorEpoch+`","offset":`...)
	dst = strconv.AppendUint(dst, offset, 10)
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, t.UnixMilli(), 10)
	return append(dst, '}')
}

package poll

import (
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"

	"github.com/switchboardhq/switchboard/hub"
)

// A long poll's hub session used to live exactly as long as the poll: each
// poll opened one, subscribed it to its channels and closed it after the
// reply, and on a kept connection (see conn) that was a tenth of the node's
// CPU per delivery. Now, after the reply, the session of a kept
// connection's long poll lingers, still subscribed: what the channels
// publish meanwhile is queued to it, within the same budgets as any
// session's (the node's sessions, the queue limit). The connection's next
// request takes it over when it is a long poll that asks for exactly what
// the reply said — the same channels in the same order, the cursor the
// reply gave, the same token and the client id the reply named — and the
// session is still on: its queue then holds precisely the publications
// after that cursor, so the poll answers with them, or parks on the same
// subscriptions. Anything else closes the session and takes the ordinary
// path, which subscribes from the request's cursor. A session the hub ends
// between polls (its queue over the limit, its token expired, the node
// shutting down) is closed at once, and the next poll takes the ordinary
// path too: a replay from history, or a gap, exactly as a fresh poll, never
// a silent loss. The connection closing, its idle timeout and Handler.Wait
// close a lingering session with it.
//
// The session's presence is unaffected: a poll's session is out of
// presence (the handler keeps the client's entry itself, refreshed by each
// poll: see touchPresence), so taking a session over makes no leave and
// join.

// lingering is a kept connection's session between its polls. The goroutine
// that has the connection owns it.
type lingering struct {
	s        *hub.Session
	w        *waker
	channels []string // as the poll named them
	token    string
	rp       *reply // the last reply, its cursor moved past what it carried
}

// takeLinger hands the connection's lingering session, if any, to its next
// request, which closes it unless it takes it over (see lingering.close).
func (c *conn) takeLinger() lingering {
	k := c.linger
	c.linger = lingering{}
	return k
}

// close closes the session unless a poll took it over.
func (k *lingering) close() {
	if k.s != nil {
		k.s.Close()
		k.s = nil
	}
}

// fits reports whether the poll q, with token and its request's raw cursor,
// asks for exactly what the last reply said, on a session still going on.
func (k *lingering) fits(q *query, token, cursor string) bool {
	if k.s == nil || token != k.token || q.client != k.s.ID() || !slices.Equal(q.channels, k.channels) {
		return false
	}
	var buf [128]byte
	if string(k.rp.cursor.AppendText(buf[:0])) != cursor {
		return false
	}
	return !ended(k.s)
}

// reply starts the answer of the poll that takes the session over: where
// the last one left each channel.
func (k *lingering) reply() reply {
	return reply{cursor: k.rp.cursor, recovered: true, client: k.rp.client}
}

// rawCursor is the cursor as the request carries it (see transport.Cursor).
func rawCursor(r *http.Request, values url.Values) string {
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		return s
	}
	return values.Get("cursor")
}

// waker is the Wake of a session that parked polls may take turns on: it
// wakes the poll parked now, if any. Between polls, a wake-up that finds
// the session ended closes it (on a worker: Wake must not call into the
// session); a publication is left queued for the next poll.
type waker struct {
	h *Handler
	s atomic.Pointer[hub.Session]
	p atomic.Pointer[parkedPoll]
}

func (w *waker) wake() {
	if p := w.p.Load(); p != nil && !p.done.Load() {
		// Parked, or parking: park wakes it once it is live.
		p.wake()
		return
	}
	if s := w.s.Load(); s != nil && ended(s) {
		w.h.workers.run(closeTask{s})
	}
}

type closeTask struct{ s *hub.Session }

func (t closeTask) run() { t.s.Close() }

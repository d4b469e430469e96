package poll

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// Transport names the sessions of polls in the hub's statistics.
const (
	TransportLongPoll  = stream.LongPoll
	TransportShortPoll = stream.Poll
)

// methods are what a poll takes: GET, and a plain OPTIONS that says so.
var methods = transport.NewMethods(http.MethodGet, http.MethodOptions)

// Handler answers long and short polls:
//
//	GET /connection/poll?channel=a&channel=b&cursor=C&timeout=25s
//	→ {"publications":[...],"cursor":"...","recovered":true,"gaps":[]}
//
// channel is repeated for each channel, up to the hub's MaxChannels. cursor
// is the one from the previous reply; a channel it has no position for
// starts at its latest publication, as on a first poll. timeout is a
// duration ("25s", "500ms") or whole seconds ("25"); 0 is a short poll that
// never holds, and absent or empty means Config.DefaultTimeout.
//
// An answer holds at most the hub's QueueLimit of publications (at least
// one when any is due): a client far behind gets its backlog over several
// polls, each answered at once, its cursor after the last publication
// included, with no gap and no repeat.
//
// The reply's cursor holds the requested channels only: a channel dropped
// from the list is dropped from the cursor. A channel whose position could
// not be recovered is listed in gaps and recovered is false: when the
// position is older than its history, the channel starts live at its
// latest position; when the channel's epoch changed (its history was
// replaced), the answer carries the new epoch's publications from its
// start, as a live subscriber told of the gap receives them. A gap that
// happens while a long poll holds answers it at once, the same way.
//
// The cursor carries every position; what the handler keeps between
// requests — a long poll's session on a kept connection, for the next poll
// that asks for exactly what the reply said (see lingering) — only saves
// the next poll the work of subscribing again. It is safe for concurrent
// use.
type Handler struct {
	cfg         Config
	maxChannels int
	poller      *netpoll.Poller // nil where there is none
	wg          sync.WaitGroup  // parked polls (see park) and the kept connections they serve next

	workers *workers     // answer parked polls and serve kept connections (see workers)
	parked  atomic.Int64 // polls waiting outside net/http now (see park), for tests

	mu      sync.Mutex
	idle    map[*conn]struct{} // kept connections waiting for a request
	closing atomic.Bool        // Wait has begun: keep no connection; set under mu
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg. It panics if cfg.Hub is nil.
func New(cfg Config) *Handler {
	cfg = cfg.withDefaults()
	if cfg.Poller == nil {
		cfg.Poller = netpoll.New(cfg.Logger)
	}
	return &Handler{
		cfg: cfg, maxChannels: cfg.Hub.Config().MaxChannels, poller: cfg.Poller,
		idle: make(map[*conn]struct{}), workers: newWorkers(),
	}
}

// Wait blocks until every poll that waited outside net/http (see park) has
// been answered, or ctx ends: http.Server.Shutdown does not wait for those.
// They are answered when their sessions end (hub.Shutdown ends them all).
// The connections the handler kept for their clients' next polls (see
// conn) are closed once they are waiting for a request, as http.Server
// closes idle connections.
func (h *Handler) Wait(ctx context.Context) error {
	h.closeIdle()
	err := transport.Wait(ctx, &h.wg)
	h.workers.stop(err == nil)
	return err
}

// ServeHTTP answers one poll. Everything that can be refused is checked
// before the session opens, so a bad request costs the hub nothing; the
// session lives as long as the poll (the request, or the parked poll that
// outlives it: see park), or lingers for the next (see lingering).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The session the last poll on this connection left (see lingering):
	// taken over below, or closed when this request returns.
	var k lingering
	fw, _ := w.(*fastWriter)
	if fw != nil {
		k = fw.c.takeLinger()
		defer k.close()
	}
	if transport.CORS(w, r, h.cfg.Origins, transport.ClientCORSMethods) || !methods.Allow(w, r) {
		return
	}
	values, err := transport.Query(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	q, err := h.parse(r, values)
	if err != nil {
		h.fail(w, err)
		return
	}
	token := transport.Token(r, values, h.cfg.TokenCookie)
	id, err := transport.Authenticate(h.cfg.Verifier, token)
	if err != nil {
		h.fail(w, err)
		return
	}
	// A long poll that can wait outside net/http is woken by the hub
	// rather than waiting on the session's Ready channel.
	var p *parkedPoll
	if q.timeout > 0 && h.parkable(w, r) {
		p = new(parkedPoll)
	}
	ctx := r.Context()
	var o opened
	if p != nil && k.fits(&q, token, rawCursor(r, values)) {
		o = opened{s: k.s, w: k.w, rp: k.reply(), subscribed: q.channels, keep: true}
		k.s = nil
	} else {
		// Closed before this poll's own session, which counts against
		// the node's sessions as it does.
		k.close()
		if o, err = h.open(ctx, &q, id, p != nil); err != nil {
			if ctx.Err() == nil { // else the client is gone; nobody reads an error
				h.fail(w, err)
			}
			return
		}
	}
	s, rp := o.s, &o.rp
	// A session outlives this request when it parks (see park), or when a
	// kept connection keeps it for its next poll (see lingering).
	kept := false
	defer func() {
		if !kept {
			s.Close()
		}
	}()
	h.touchPresence(ctx, id, s.ID(), o.subscribed, q.timeout)

	// A gap is news too: the client must reload its state now, not after
	// the long poll's timeout.
	timeout := q.timeout
	if !rp.recovered {
		timeout = 0
	}
	box := getItems()
	if p != nil {
		p.w, p.keep, p.channels, p.token = o.w, o.keep, q.channels, token
		items := s.Take(*box)
		if len(items) == 0 && timeout > 0 && !ended(s) {
			*box = items
			if h.park(w, r, s, rp, timeout, box, p) {
				kept = true
				return
			}
		}
		writeReply(w, rp, items)
		putItems(box, items)
		if fw != nil && h.lingers(o.keep, s, fw.c) {
			// Written by the connection once this returns; a failed write
			// closes the connection and the session with it.
			last := new(reply)
			*last = *rp
			fw.c.linger = lingering{s: s, w: o.w, channels: q.channels, token: token, rp: last}
			kept = true
		}
		return
	}
	items, ok := hold(ctx, s, timeout, *box)
	if ok {
		writeReply(w, rp, items)
	}
	putItems(box, items)
}

// opened is a poll's session, subscribed to the poll's channels.
type opened struct {
	s  *hub.Session
	w  *waker // the session's Wake, for a long poll that can park
	rp reply
	// subscribed are the channels subscribed (a session the hub ended
	// while subscribing carries the rest: see reply.carried); keep says
	// the session may linger after the reply (see lingering): every
	// channel subscribed, none cut short.
	subscribed []string
	keep       bool
}

// open opens a poll's session and subscribes it to q's channels from q's
// cursor. The session's client id is q's, and its Wake a waker when the
// poll can park. Everything that can be refused was checked before, so a
// bad request costs the hub nothing.
func (h *Handler) open(ctx context.Context, q *query, id stream.Identity, parkable bool) (opened, error) {
	kind := TransportLongPoll
	if q.timeout == 0 {
		kind = TransportShortPoll
	}
	// The session lives for this request only, unless it lingers; the
	// client's presence is kept under its own id, refreshed by each poll
	// (see touchPresence).
	opts := hub.SessionOptions{
		Identity: id, Transport: kind, Encoder: pollEncoder,
		Client: q.client, NoPresence: true,
	}
	var wk *waker
	if parkable {
		wk = &waker{h: h}
		opts.Wake = wk.wake
	}
	s, err := h.cfg.Hub.NewSession(opts)
	if err != nil {
		return opened{}, err
	}
	if wk != nil {
		wk.s.Store(s)
	}
	o := opened{s: s, w: wk, rp: reply{recovered: true, client: s.ID()}, keep: parkable}
	o.subscribed = make([]string, 0, len(q.channels))
	for _, ch := range q.channels {
		var since *stream.Position
		if p, ok := q.cursor.Get(ch); ok {
			since = &p
		}
		if ended(s) {
			o.rp.carried(ch, since)
			o.keep = false
			continue
		}
		res, err := s.Subscribe(ctx, ch, hub.SubscribeOptions{Since: since, NoWait: true, EpochStart: true})
		if err != nil {
			if ctx.Err() == nil && ended(s) {
				o.rp.carried(ch, since)
				o.keep = false
				continue
			}
			s.Close()
			return opened{}, err
		}
		o.rp.subscribed(res, since)
		o.subscribed = append(o.subscribed, ch)
		o.keep = o.keep && !res.Truncated
	}
	return o, nil
}

// touchPresence adds or refreshes the client's presence in the channels it
// polls (those whose namespace has presence on), for the poll's timeout
// plus the hub's PresenceTTL: the entry outlives the wait for the next poll
// and ends on its own once the client stops polling. A failure costs the
// poll nothing but the entry; the next poll tries again.
func (h *Handler) touchPresence(ctx context.Context, id stream.Identity, client string, channels []string, timeout time.Duration) {
	if len(channels) == 0 {
		return
	}
	ttl := timeout + h.cfg.Hub.Config().PresenceTTL
	if err := h.cfg.Hub.TouchPresence(ctx, id, client, channels, ttl); err != nil && ctx.Err() == nil {
		h.cfg.Logger.Warn("poll presence failed", "client", client, "err", err)
	}
}

// ended reports whether the hub has ended the session: shutdown, a token
// expiring, a burst of live publications over the queue limit. The poll then
// answers with what was queued before, which is a gap-free prefix of every
// channel, and the client resumes from the reply's cursor, here or on
// another node. Failing instead would throw that progress away, and a
// client behind a busy channel could fail forever.
func ended(s *hub.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// hold takes what is queued and, for a long poll with nothing queued, waits
// for the first publication, the timeout or the end of the session, then
// takes everything queued by then: a burst goes out in one reply. It reports
// false when the client went away.
//
// buf lends its storage to the session's queue, so that publications
// arriving while the poll waits are appended to recycled memory; the slice
// returned is never the queue's.
func hold(ctx context.Context, s *hub.Session, timeout time.Duration, buf []hub.Item) ([]hub.Item, bool) {
	items := s.Take(buf)
	if len(items) > 0 || timeout == 0 {
		return items, true
	}
	t := getTimer(timeout)
	defer putTimer(t)
	for {
		select {
		case <-s.Ready():
			// A wake-up may find the queue empty; keep waiting then.
			if items = s.Take(items); len(items) > 0 {
				return items, true
			}
		case <-s.Done():
			return s.Take(items), true // see ended
		case <-t.C:
			return s.Take(items), true
		case <-ctx.Done():
			return nil, false
		}
	}
}

// Timers and item buffers are recycled across polls: a node holding many
// thousands of long polls would otherwise make garbage of one timer and one
// growing queue per request.
var (
	timers   sync.Pool
	itemBufs = sync.Pool{New: func() any { return new([]hub.Item) }}
)

// maxPooledItems keeps a rare huge replay from pinning its buffer forever.
const maxPooledItems = 1024

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// putTimer relies on Go 1.23 timer semantics: once stopped, a timer's
// channel delivers no stale tick, so the next Reset starts clean.
func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

// getItems lends a recycled buffer. The box travels with the request while
// the storage inside it may be swapped with the session's queue by Take.
func getItems() *[]hub.Item { return itemBufs.Get().(*[]hub.Item) }

// putItems recycles a slice the session no longer references, clearing it
// first so the pool pins no publication. Every slice in the pool is zero up
// to its capacity: Take hands out only what was appended since.
func putItems(box *[]hub.Item, b []hub.Item) {
	if cap(b) > maxPooledItems {
		b = nil
	}
	clear(b)
	*box = b[:0]
	itemBufs.Put(box)
}

// fail writes a coded error, logging the ones that are the node's fault.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	transport.Fail(w, h.cfg.Logger, "poll", err)
}

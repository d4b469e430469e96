package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// Config configures a Handler. Its zero value works once Hub is set; each
// field documents its default.
type Config struct {
	// Hub is the node the streams join. Required.
	Hub *hub.Hub
	// Verifier checks the token a request carries. Nil: any token is
	// refused and only anonymous clients connect.
	Verifier transport.Verifier
	// Origins decides which browser origins may open a stream (CORS).
	// Nil: same-origin only, plus clients that send no Origin.
	Origins transport.OriginChecker
	// TokenCookie is the cookie a token is read from when the request has
	// no Authorization header and no ?token=. Default
	// transport.DefaultTokenCookie.
	TokenCookie string
	// Retry is the base reconnect delay sent to the browser in the retry:
	// line. Default 2s.
	Retry time.Duration
	// RetryJitter is the most random delay added to Retry, drawn afresh for
	// every stream. Default: Retry, so a browser waits between Retry and
	// twice Retry. Negative: no jitter.
	RetryJitter time.Duration
	// WriteTimeout bounds one write to a client; a client that takes longer
	// is dropped. Default 10s.
	WriteTimeout time.Duration
	// Logger receives the handler's logs. Default slog.Default().
	Logger *slog.Logger
	// Poller is where idle connections wait (internal/netpoll), shared
	// with the node's other transports so the process has one epoll
	// goroutine. Nil: a poller of the handler's own.
	Poller *netpoll.Poller
}

const (
	defaultRetry        = 2 * time.Second
	defaultWriteTimeout = 10 * time.Second
	allowedMethods      = "GET, OPTIONS"
)

// methods is what a stream answers: GET opens one, a plain OPTIONS is told
// so, anything else is refused with 405 as on every HTTP endpoint.
var methods = transport.NewMethods(http.MethodGet, http.MethodOptions)

// Handler serves SSE streams bound to hub sessions. It is safe for concurrent
// use. It starts no goroutine of its own: each stream lives in its request's
// goroutine, so http.Server.Shutdown waits for them, and they end when the
// hub disconnects their sessions (hub.Shutdown ends them all).
type Handler struct {
	cfg         Config
	maxChannels int
	poller      *netpoll.Poller // nil where there is none
	wg          sync.WaitGroup  // hijacked streams
	writers     sync.Pool       // *netpoll.Writer, for direct writes
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Hub == nil {
		panic("sse: Config.Hub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = defaultRetry
	}
	if cfg.RetryJitter == 0 {
		cfg.RetryJitter = cfg.Retry
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.Poller == nil {
		cfg.Poller = netpoll.New(cfg.Logger)
	}
	h := &Handler{cfg: cfg, maxChannels: cfg.Hub.Config().MaxChannels, poller: cfg.Poller}
	h.writers.New = func() any { return new(netpoll.Writer) }
	return h
}

// Wait blocks until every stream that left net/http (see hijack) has
// ended, or ctx ends: http.Server.Shutdown does not wait for those.
// Streams end when their sessions do (hub.Shutdown ends them all).
func (h *Handler) Wait(ctx context.Context) error {
	return transport.Wait(ctx, &h.wg)
}

// ServeHTTP refuses a bad request with a coded JSON error before anything is
// streamed; once the stream has started, errors end it with a disconnect
// event instead.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if transport.CORS(w, r, h.cfg.Origins, allowedMethods) {
		return
	}
	if !methods.Allow(w, r) {
		return
	}
	// CORS judged requests that carry an Origin; the checker also has its
	// say on those that carry none.
	if err := transport.CheckOrigin(h.cfg.Origins, r); err != nil {
		transport.WriteError(w, err)
		return
	}
	var es *eventStream
	var err error
	if h.hijackable(w, r) {
		es = &eventStream{h: h}
		es, err = h.open(r, es)
		if err == nil && es.hijack(w, r) {
			return
		}
		// No hijack after all (net/http refused it): the session has its
		// Wake, so run would never see Ready. The client reconnects.
		if err == nil {
			es.sess.Disconnect(stream.ErrClosed)
			es.sess.Close()
			return
		}
	} else {
		es, err = h.open(r, nil)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone: nobody to tell
		}
		// A browser's EventSource gives up for good on any answer but 200,
		// so a node that is shutting down or full answers with a stream
		// that says "come back" instead: retry, then disconnect.
		if errors.Is(err, stream.ErrShutdown) || errors.Is(err, stream.ErrConnectionLimit) {
			h.retryLater(w, r, err)
			return
		}
		if protocol.ErrorFor(err).HTTPStatus() == http.StatusInternalServerError {
			h.cfg.Logger.Error("sse stream refused", "err", err)
		}
		transport.WriteError(w, err)
		return
	}
	defer es.sess.Close()
	es.start(w, r)
	es.run(r.Context())
}

// open checks the request, opens the session and subscribes every channel,
// from the request's cursor where it has a position. The subscriptions queue
// what the client missed, ahead of live publications; nothing is written
// until the stream starts, so the connected event comes first.
//
// A stream given as es is one that leaves net/http (see hijack): its
// session wakes es's writer instead of offering a Ready channel.
func (h *Handler) open(r *http.Request, es *eventStream) (*eventStream, error) {
	q, err := transport.Query(r)
	if err != nil {
		return nil, err
	}
	chans, err := transport.Channels(q, h.maxChannels)
	if err != nil {
		return nil, err
	}
	from, err := transport.Cursor(r, q)
	if err != nil {
		return nil, err
	}
	id, err := transport.Authenticate(h.cfg.Verifier, transport.Token(r, q, h.cfg.TokenCookie))
	if err != nil {
		return nil, err
	}
	opts := hub.SessionOptions{Identity: id, Transport: stream.SSE, Encoder: sseEncoder}
	if es != nil {
		opts.Wake, opts.Direct = es.wake, es
	} else {
		es = &eventStream{h: h}
	}
	sess, err := h.cfg.Hub.NewSession(opts)
	if err != nil {
		return nil, err
	}
	es.sess = sess
	results := make([]hub.SubscribeResult, 0, len(chans))
	for _, ch := range chans {
		res, err := subscribe(r.Context(), sess, ch, &from, &es.cursor)
		if err != nil {
			sess.Close()
			return nil, err
		}
		results = append(results, res)
	}
	es.buf = appendRetry(es.buf, h.retryMillis())
	es.buf = appendConnected(es.buf, sess.ID(), results, &es.cursor, h.cfg.Hub.Config().PingInterval)
	return es, nil
}

// subscribe joins one channel and records where the connection starts in
// it: the client's position when everything after it was replayed, else the
// channel's latest, since nothing before that will come.
func subscribe(ctx context.Context, sess *hub.Session, ch string, from, start *stream.Cursor) (hub.SubscribeResult, error) {
	var opts hub.SubscribeOptions
	if p, ok := from.Get(ch); ok {
		opts.Since = &p
	}
	res, err := sess.Subscribe(ctx, ch, opts)
	if err != nil {
		// A session ended while subscribing says why it ended (shutdown,
		// connection limit) better than "closed" does.
		if errors.Is(err, stream.ErrClosed) {
			if cause := sess.Cause(); cause != nil && !errors.Is(cause, stream.ErrClosed) {
				err = cause
			}
		}
		return res, fmt.Errorf("channel %q: %w", ch, err)
	}
	if opts.Since != nil && res.Recovered {
		start.Set(ch, *opts.Since)
	} else {
		start.Set(ch, res.Latest)
	}
	return res, nil
}

// retryLater answers a stream that only tells the client to reconnect
// after the jittered retry delay, with the reason as a disconnect event.
func (h *Handler) retryLater(w http.ResponseWriter, r *http.Request, cause error) {
	writeStreamHeaders(w, r)
	b := fmt.Appendf(nil, "retry: %d\n\nevent: disconnect\ndata: ", h.retryMillis())
	b = protocol.AppendDisconnect(b, protocol.DisconnectFor(cause))
	b = append(b, "\n\n"...)
	_, _ = w.Write(b)
}

// retryMillis is the reconnect delay for one stream.
func (h *Handler) retryMillis() int64 {
	d := h.cfg.Retry
	if j := h.cfg.RetryJitter; j > 0 {
		d += rand.N(j + 1)
	}
	return d.Milliseconds()
}

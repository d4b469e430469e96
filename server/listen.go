package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Descriptors are the node's hardest limit: a process out of them cannot
// accept a connection, open a file or answer /healthz, and the kernel leaves
// every client that knocks hanging in the listen backlog. The node keeps
// three bounds, from the inside out:
//
//   - sessions (hub.Config.MaxConnections, limits.connections): beyond them
//     a WebSocket, SSE or poll client is refused with its code (3006, an
//     SSE disconnect event, 503/118) on a connection that still answers;
//   - open connections (Config.MaxOpenConnections): sessions plus half of
//     the reserve, for requests that are not sessions (health, readiness,
//     metrics, the API, and the refusals above); beyond it the listener
//     accepts a connection and closes it at once;
//   - the open-file limit: the other half of the reserve is for the process
//     itself (broker connections, files, the spare descriptor below).
//
// Since a request's path is unknown until it is read, the reserve can only
// sit between the session limit and the listener's cap.

// DescriptorReserve is how many of n descriptors a node keeps back from
// sessions: 5%, and at least 64. Half of it is for connections that are not
// sessions, half for the process itself.
func DescriptorReserve(n int) int {
	return max(64, n/20)
}

// SessionBudget is the default session limit of a node whose process may
// open nofile descriptors: nofile less the reserve, and at least 1. It is 0
// when nofile is (the limit is unknown).
func SessionBudget(nofile int) int {
	if nofile <= 0 {
		return 0
	}
	return max(1, nofile-DescriptorReserve(nofile))
}

// openCap is the default Config.MaxOpenConnections for a node of sessions
// sessions in a process that may open nofile descriptors (0: unknown).
func openCap(sessions, nofile int) int {
	if nofile <= 0 {
		return sessions + DescriptorReserve(sessions)/2
	}
	half := DescriptorReserve(nofile) / 2
	return max(1, min(sessions+half, nofile-half))
}

const (
	// acceptBackoffMin and acceptBackoffMax bound the wait after a failed
	// accept, doubled on each failure in a row: short enough that a
	// descriptor freed is soon used, long enough not to spin.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Listen opens a TCP listener on addr for Serve. Its connections have no
// TCP keep-alive probes: every connection the node serves has a liveness
// check of its own (WebSocket pings that must be answered, SSE pings under
// a write timeout, poll, request and idle timeouts), and setting the probes
// up costs four system calls on every connection accepted, of about twenty
// that a WebSocket client's connect and subscribe take in all.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
}

// listener is the node's net.Listener. It counts the connections it has
// handed out that are still open and accepts-and-closes any beyond max, so
// a flood of clients meets a closed connection at once rather than a hang;
// it rides out accept errors with a capped backoff, logged once a second
// with a count; and when the process is out of descriptors it frees a spare
// one to take the waiting client off the backlog and close it.
//
// Accept is called from one goroutine (the directListener's, which reads
// each connection's request head before net/http sees it); Close and the
// connections' Close may be called from any.
type listener struct {
	net.Listener
	max  int64
	log  *slog.Logger
	open atomic.Int64

	done      chan struct{}
	closeOnce sync.Once

	spareMu sync.Mutex
	spare   *os.File // nil when it could not be (re)opened

	failed  rateLog // accept errors
	refused rateLog // connections closed over max
}

func newListener(inner net.Listener, maxOpen int, log *slog.Logger) *listener {
	l := &listener{Listener: inner, max: int64(maxOpen), log: log, done: make(chan struct{})}
	l.spare, _ = os.Open(os.DevNull)
	return l
}

// Accept returns the next connection within the cap. It returns an error
// only when the listener is closed or fails for good.
func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !retryable(err) {
				l.flush()
				return nil, err
			}
			if outOfFiles(err) && l.shed() {
				// One client was taken off the backlog and closed: it
				// knows at once. Try the next.
				l.failed.note(func(n int) {
					l.log.Warn("out of file descriptors; closing new connections until some are freed",
						"err", err, "count", n, "open", l.open.Load())
				})
				delay = 0
				continue
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			l.failed.note(func(n int) {
				l.log.Warn("accept failed; retrying", "err", err, "count", n, "retry_in", delay)
			})
			if !l.wait(delay) {
				l.flush()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			c.Close()
			l.refused.note(func(n int) {
				l.log.Warn("node at its open-connection cap; closing new connections", "max", l.max, "count", n)
			})
			continue
		}
		return &trackedConn{Conn: c, l: l}, nil
	}
}

// Open is the number of connections handed out and not yet closed.
func (l *listener) Open() int { return int(l.open.Load()) }

// Close stops Accept and closes the spare descriptor.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.spareMu.Lock()
		if l.spare != nil {
			l.spare.Close()
			l.spare = nil
		}
		l.spareMu.Unlock()
	})
	return l.Listener.Close()
}

// shed frees the spare descriptor, accepts the client waiting in the
// backlog with it, closes that client and takes the spare back. It reports
// whether a client was shed; without a spare it does nothing.
func (l *listener) shed() bool {
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	if l.spare == nil {
		return false
	}
	l.spare.Close()
	l.spare = nil
	c, err := l.Listener.Accept()
	if err == nil {
		c.Close()
	}
	select {
	case <-l.done:
	default:
		l.spare, _ = os.Open(os.DevNull)
	}
	return err == nil
}

// wait sleeps d or until the listener is closed; it reports whether the
// listener is still open.
func (l *listener) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// flush logs what the rate logs held back when Accept ends.
func (l *listener) flush() {
	l.failed.flush(func(n int) { l.log.Warn("accept failed", "count", n) })
	l.refused.flush(func(n int) {
		l.log.Warn("node at its open-connection cap; closed new connections", "max", l.max, "count", n)
	})
}

// retryable reports whether an accept error may pass: anything but a
// closed listener or a permanent failure. Running out of descriptors or
// memory, and a client that reset before it was accepted, are all
// temporary.
func retryable(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
			syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN:
			return true
		}
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// outOfFiles reports whether err says the process or the system is out of
// descriptors.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// trackedConn gives its descriptor back to the listener's count when
// closed. It keeps the socket reachable through SyscallConn so that the
// WebSocket transport can park idle connections on the poller.
type trackedConn struct {
	net.Conn
	l      *listener
	closed atomic.Bool
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.open.Add(-1)
	}
	return err
}

// SyscallConn returns the socket's raw connection, when it has one.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// CloseWrite half-closes the socket, which http.Server does before closing
// a connection whose request it refused, so the client reads the answer.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rateLog logs a recurring event at most once a second, with how many times
// it happened since the last line.
type rateLog struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

func (r *rateLog) note(log func(count int)) {
	r.mu.Lock()
	r.count++
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < time.Second {
		r.mu.Unlock()
		return
	}
	n := r.count
	r.count, r.last = 0, now
	r.mu.Unlock()
	log(n)
}

func (r *rateLog) flush(log func(count int)) {
	r.mu.Lock()
	n := r.count
	r.count = 0
	r.mu.Unlock()
	if n > 0 {
		log(n)
	}
}

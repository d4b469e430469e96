//go:build linux

package ws

import (
	"errors"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller watches the sockets of idle connections with one epoll instance,
// so an idle connection has no goroutine at all: a connection's reader arms
// its socket (EPOLLONESHOT, level-triggered) and ends; when the client sends
// something, the poller starts a reader for it. The poller's goroutine runs
// while any connection is registered and ends with the last one.
type poller struct {
	h *Handler

	mu     sync.Mutex
	epfd   int // -1 while the poller is not running
	evfd   int // wakes the poller's goroutine when the last connection leaves
	conns  map[uint64]*conn
	next   uint64
	broken bool   // epoll failed: connections keep a reader goroutine
	onArm  func() // tests: called after a connection is armed
}

func newPoller(h *Handler) *poller {
	return &poller{h: h, epfd: -1, evfd: -1}
}

// wakeID is the epoll data of the poller's own eventfd; connections are
// numbered from 1.
const wakeID = 0

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

// arm registers c's socket for one readiness event, starting the poller if
// it is not running. It reports false when that failed (the socket is
// closed, or epoll is unavailable): the caller then goes on reading itself.
func (p *poller) arm(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return false
	}
	if p.epfd < 0 {
		if err := p.start(); err != nil {
			p.h.cfg.Logger.Warn("ws: no epoll, idle connections keep a goroutine", "err", err)
			p.broken = true
			return false
		}
	}
	op := unix.EPOLL_CTL_MOD
	if c.pollID == 0 {
		p.next++
		c.pollID = p.next
		p.conns[c.pollID] = c
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setEventID(&ev, c.pollID)
	var ctlErr error
	// Control holds the descriptor open, so the number is c's own.
	err := c.raw.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil || ctlErr != nil {
		return false
	}
	if p.onArm != nil {
		p.onArm()
	}
	return true
}

// forget unregisters c when its connection ends, before its socket closes.
func (p *poller) forget(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.pollID == 0 {
		return
	}
	delete(p.conns, c.pollID)
	c.pollID = 0
	if p.epfd >= 0 {
		// A closed socket has left the epoll set already; Control then
		// fails and the number, perhaps reused, is not touched.
		_ = c.raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
		if len(p.conns) == 0 {
			var one [8]byte
			one[0] = 1
			_, _ = unix.Write(p.evfd, one[:])
		}
	}
}

// start creates the epoll instance and its goroutine. Called with mu held.
func (p *poller) start() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return err
	}
	p.epfd, p.evfd = epfd, evfd
	if p.conns == nil {
		p.conns = make(map[uint64]*conn)
	}
	// A connection holds the handler's WaitGroup while it calls arm, so
	// this Add never races with Wait seeing zero.
	p.h.wg.Add(1)
	go p.run(epfd, evfd)
	return nil
}

// run waits for readiness and starts a reader for each connection that has
// something to read (or has failed). It ends when no connection is left.
func (p *poller) run(epfd, evfd int) {
	defer p.h.wg.Done()
	events := make([]unix.EpollEvent, 128)
	var woken []*conn
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		p.mu.Lock()
		if err != nil {
			// Should not happen; never leave a connection unread.
			p.h.cfg.Logger.Error("ws: epoll wait failed, idle connections keep a goroutine", "err", err)
			p.broken = true
			for _, c := range p.conns {
				woken = append(woken, c)
			}
		}
		for i := 0; i < n; i++ {
			id := eventID(&events[i])
			if id == wakeID {
				var b [8]byte
				_, _ = unix.Read(evfd, b[:])
				continue
			}
			if c := p.conns[id]; c != nil {
				woken = append(woken, c)
			}
		}
		stop := len(p.conns) == 0 || p.broken
		if stop {
			unix.Close(epfd)
			unix.Close(evfd)
			p.epfd, p.evfd = -1, -1
		}
		p.mu.Unlock()
		for _, c := range woken {
			c.resume()
		}
		clear(woken)
		woken = woken[:0]
		if stop {
			return
		}
	}
}

// rawWriter writes to a socket without waiting for it to become writable:
// the fan-out's direct writes (conn.WriteNow) go through it. It keeps its
// iovec array and the func handed to syscall.RawConn.Write, so a write
// allocates nothing; it lives in a pooled writeState.
type rawWriter struct {
	iov []unix.Iovec
	fn  func(fd uintptr) bool
	vec [][]byte
	n   int
	err error
}

// maxIovec is the most buffers one writev takes (Linux's IOV_MAX).
const maxIovec = 1024

// writeNonblock writes what the socket takes of vec at once and reports how
// many bytes that was; a full socket buffer is 0 bytes and no error. It
// goes through raw, which holds the descriptor (and its write lock) for
// the call, so it never races a close.
func (w *rawWriter) writeNonblock(raw syscall.RawConn, vec [][]byte) (int, error) {
	if w.fn == nil {
		w.fn = w.write
	}
	if len(vec) > maxIovec {
		vec = vec[:maxIovec]
	}
	w.vec, w.n, w.err = vec, 0, nil
	err := raw.Write(w.fn)
	w.vec = nil
	clear(w.iov)
	w.iov = w.iov[:0]
	if err != nil {
		return 0, err
	}
	return w.n, w.err
}

// write is the RawConn.Write callback: one write or writev, and true, so
// the runtime never parks the caller waiting for the socket.
func (w *rawWriter) write(fd uintptr) bool {
	for {
		var n int
		var err error
		if len(w.vec) == 1 {
			n, err = unix.Write(int(fd), w.vec[0])
		} else {
			w.iov = w.iov[:0]
			for _, b := range w.vec {
				var v unix.Iovec
				if len(b) > 0 {
					v.Base = &b[0]
					v.SetLen(len(b))
				}
				w.iov = append(w.iov, v)
			}
			r, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
			n = int(r)
			if errno != 0 {
				n, err = 0, errno
			}
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			n, err = 0, nil
		case n < 0:
			n = 0
		}
		w.n, w.err = n, err
		return true
	}
}

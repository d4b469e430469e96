//go:build linux

package netpoll

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Handle is one socket's registration. Its owner fills Raw and Ready and
// keeps the Handle for the socket's life; the poller numbers it.
type Handle struct {
	// Raw is the socket.
	Raw syscall.RawConn
	// Ready is called from the poller's goroutine once per Arm, when the
	// socket is readable or has failed. It must return at once; it may arm
	// the socket again.
	Ready func()
	id    uint64 // guarded by the poller's mu; 0: not registered
	hup   atomic.Bool
}

// Hangup reports whether the poller has seen the socket reach its end or
// fail. For a watched socket (see Watch) that is the news bytes may hide:
// an end that came with the last bytes read raises no further call.
func (h *Handle) Hangup() bool { return h.hup.Load() }

// Poller watches armed sockets.
type Poller struct {
	log *slog.Logger

	mu      sync.Mutex
	epfd    int // -1 while the poller is not running
	evfd    int // wakes the goroutine when the last socket leaves
	handles map[uint64]*Handle
	next    uint64
	broken  bool // epoll failed: users keep a goroutine
	running sync.WaitGroup
}

// New returns a poller; its goroutine starts with the first Arm.
func New(log *slog.Logger) *Poller {
	if log == nil {
		log = slog.Default()
	}
	return &Poller{log: log, epfd: -1, evfd: -1}
}

// wakeID is the epoll data of the poller's own eventfd; handles are
// numbered from 1.
const wakeID = 0

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

// Arm registers h's socket for one readiness event. It reports false when
// that failed (no poller, the socket is closed, epoll is unavailable): the
// caller then has to wait for the socket itself.
func (p *Poller) Arm(h *Handle) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return false
	}
	op := unix.EPOLL_CTL_MOD
	if h.id == 0 {
		p.next++
		h.id = p.next
		p.handles[h.id] = h
		op = unix.EPOLL_CTL_ADD
	}
	return p.ctlLocked(h, op, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLONESHOT)
}

// runningLocked starts the poller's epoll instance and goroutine on first
// use; it reports false when there is none (it failed once: the failure is
// logged once, and every caller waits for its sockets itself).
func (p *Poller) runningLocked() bool {
	if p.broken {
		return false
	}
	if p.epfd < 0 {
		if err := p.start(); err != nil {
			p.log.Warn("netpoll: no epoll, idle connections keep a goroutine", "err", err)
			p.broken = true
			return false
		}
	}
	return true
}

// ctlLocked registers (op EPOLL_CTL_ADD) or re-arms (EPOLL_CTL_MOD) h's
// socket for events; on failure h is forgotten and it reports false.
func (p *Poller) ctlLocked(h *Handle, op int, events uint32) bool {
	ev := unix.EpollEvent{Events: events}
	setEventID(&ev, h.id)
	var ctlErr error
	// Control holds the descriptor open, so the number is h's own.
	err := h.Raw.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil || ctlErr != nil {
		p.forgetLocked(h)
		return false
	}
	return true
}

// Forget unregisters h; call it before the socket closes. Ready is not
// called for h after Forget returns, but for a call already under way.
func (p *Poller) Forget(h *Handle) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forgetLocked(h)
}

func (p *Poller) forgetLocked(h *Handle) {
	if h.id == 0 {
		return
	}
	delete(p.handles, h.id)
	h.id = 0
	if p.epfd >= 0 {
		// A closed socket has left the epoll set already; Control then
		// fails and the number, perhaps reused, is not touched.
		_ = h.Raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
		if len(p.handles) == 0 {
			var one [8]byte
			one[0] = 1
			_, _ = unix.Write(p.evfd, one[:])
		}
	}
}

// Wait blocks until the poller's goroutine has ended (no socket is
// registered), for tests.
func (p *Poller) Wait() {
	if p != nil {
		p.running.Wait()
	}
}

// start creates the epoll instance and its goroutine. Called with mu held.
func (p *Poller) start() error {
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
	if p.handles == nil {
		p.handles = make(map[uint64]*Handle)
	}
	p.running.Add(1)
	go p.run(epfd, evfd)
	return nil
}

// run waits for readiness and calls Ready for each socket that has
// something to read (or has failed). It ends when no socket is left.
func (p *Poller) run(epfd, evfd int) {
	defer p.running.Done()
	events := make([]unix.EpollEvent, 128)
	var woken []*Handle
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		p.mu.Lock()
		if err != nil {
			// Should not happen; never leave a socket unwatched.
			p.log.Error("netpoll: epoll wait failed, idle connections keep a goroutine", "err", err)
			p.broken = true
			for _, h := range p.handles {
				woken = append(woken, h)
			}
		}
		for i := 0; i < n; i++ {
			id := eventID(&events[i])
			if id == wakeID {
				var b [8]byte
				_, _ = unix.Read(evfd, b[:])
				continue
			}
			if h := p.handles[id]; h != nil {
				if events[i].Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					h.hup.Store(true)
				}
				woken = append(woken, h)
			}
		}
		stop := len(p.handles) == 0 || p.broken
		if stop {
			unix.Close(epfd)
			unix.Close(evfd)
			p.epfd, p.evfd = -1, -1
		}
		p.mu.Unlock()
		for _, h := range woken {
			h.Ready()
		}
		clear(woken)
		woken = woken[:0]
		if stop {
			return
		}
	}
}

// Gone reads what the client sent on a socket the poller found readable,
// without waiting, and reports whether the client is gone: the socket
// reached its end or failed. Bytes it sent are dropped; the caller arms the
// socket again.
func Gone(raw syscall.RawConn) bool {
	var b [128]byte
	gone := false
	err := raw.Read(func(fd uintptr) bool {
		for {
			n, err := unix.Read(int(fd), b[:])
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
			case err != nil || n == 0:
				gone = true
			}
			return true
		}
	})
	return gone || err != nil
}

// Peek looks at a socket the poller found readable without reading from
// it: gone when the client reached its end or the socket failed, data when
// the client sent bytes, which stay in the socket for whoever reads it
// next (a connection kept alive between requests must not lose the next
// one to a check that it is still there).
func Peek(raw syscall.RawConn) (gone, data bool) {
	var b [1]byte
	err := raw.Read(func(fd uintptr) bool {
		for {
			n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
			case err != nil || n == 0:
				gone = true
			default:
				data = true
			}
			return true
		}
	})
	return gone || err != nil, data
}

// Watch registers h's socket for the rest of its life, edge-triggered:
// Ready is called, from the poller's goroutine, each time bytes arrive or
// the socket fails or reaches its end — also when the socket was readable
// already as it was registered — with no call needed in between. Nothing
// is read: an owner that leaves bytes in the socket gets no further call
// for them, so it keeps its own note of a call it did not act on. A
// Handle is watched or armed (see Arm), never both; Forget ends either.
// Watch reports false when the registration failed, like Arm.
func (p *Poller) Watch(h *Handle) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return false
	}
	if h.id != 0 {
		return true
	}
	p.next++
	h.id = p.next
	p.handles[h.id] = h
	return p.ctlLocked(h, unix.EPOLL_CTL_ADD, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET)
}

// ReadNonblock reads what the socket holds into b without waiting for
// more: 0 bytes and no error when it holds nothing, io.EOF when the client
// reached its end. It goes through raw, so it never races a close; a read
// deadline that has passed fails it with os.ErrDeadlineExceeded.
func ReadNonblock(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		for {
			var err error
			n, err = unix.Read(int(fd), b)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				n = 0
			case err != nil:
				n, rerr = 0, err
			case n == 0 && len(b) > 0:
				rerr = io.EOF
			}
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

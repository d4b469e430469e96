//go:build linux

package netpoll

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Writer writes to a socket without waiting for it to become writable: a
// fan-out's direct writes go through it. It keeps its iovec array and the
// func handed to syscall.RawConn.Write, so a write allocates nothing; keep
// one per writer (a pool of them, or one per connection).
type Writer struct {
	iov []unix.Iovec
	fn  func(fd uintptr) bool
	vec [][]byte
	n   int
	err error
}

// maxIovec is the most buffers one writev takes (Linux's IOV_MAX).
const maxIovec = 1024

// WriteNonblock writes what the socket takes of vec at once and reports
// how many bytes that was; a full socket buffer is 0 bytes and no error.
// It goes through raw, which holds the descriptor (and its write lock) for
// the call, so it never races a close. A write deadline that has passed
// fails it with os.ErrDeadlineExceeded: lift it first. raw must be a
// non-blocking socket's, as every net.Conn's is: the write is a raw system
// call (see write), which must never block.
func (w *Writer) WriteNonblock(raw syscall.RawConn, vec [][]byte) (int, error) {
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
//
// The call is a raw system call, made without telling the scheduler: the
// socket is non-blocking (every net.Conn's is), so it returns at once,
// having taken what fits or nothing (EAGAIN). Through syscall.Syscall the
// runtime marks the caller's P as in a system call, and a loopback write
// (which runs the receiver's TCP input too) often lasts longer than
// sysmon's first tick: with GOMAXPROCS=1, sysmon then hands the P to
// another thread, which spins and sleeps again, and sysmon itself keeps
// waking every 20 µs while that goes on. A fan-out of thousands of such
// writes paid for those thread switches on every write.
func (w *Writer) write(fd uintptr) bool {
	for {
		var r uintptr
		var errno unix.Errno
		if len(w.vec) == 1 {
			b := w.vec[0]
			var p unsafe.Pointer
			if len(b) > 0 {
				p = unsafe.Pointer(&b[0])
			}
			r, _, errno = unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(p), uintptr(len(b)))
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
			r, _, errno = unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		}
		n := int(r)
		var err error
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			n = 0
		case errno != 0:
			n, err = 0, errno
		case n < 0:
			n = 0
		}
		w.n, w.err = n, err
		return true
	}
}

//go:build unix

package ws

import (
	"net"
	"syscall"
)

// awaitReadable parks the calling goroutine until nc has something to read
// (or has failed), at the shallowest stack depth the runtime allows, so an
// idle connection's reader fits the smallest goroutine stack; the read path
// proper (frame header, payload, command) is deeper than that. It peeks
// rather than trusting the poller's last readiness, since bytes may already
// wait in the socket from a segment that carried several frames.
func awaitReadable(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return // TLS and others: the read itself waits
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var one [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EINTR
	})
}

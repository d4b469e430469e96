package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// noPortYet asks the kernel to pick the source port at connect, not at
// bind (IP_BIND_ADDRESS_NO_PORT): a socket bound to one of several source
// addresses otherwise searches the bind table for a free port, which costs
// the load generator more than the rest of its connect.
func noPortYet(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

//go:build !linux

package bench

import "syscall"

// noPortYet does nothing where the kernel has no IP_BIND_ADDRESS_NO_PORT:
// the port is then picked at bind, as before.
func noPortYet(_, _ string, _ syscall.RawConn) error { return nil }

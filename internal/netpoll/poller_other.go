//go:build !linux

package netpoll

import (
	"log/slog"
	"syscall"
)

// Handle is one socket's registration (see the Linux build).
type Handle struct {
	Raw   syscall.RawConn
	Ready func()
}

// Poller is Linux only; elsewhere New returns nil.
type Poller struct{}

// New returns nil: there is no poller here.
func New(*slog.Logger) *Poller { return nil }

// Arm reports false: the caller waits for the socket itself.
func (*Poller) Arm(*Handle) bool { return false }

// Forget does nothing.
func (*Poller) Forget(*Handle) {}

// Wait returns at once.
func (*Poller) Wait() {}

// Gone reports false: without a poller nothing calls it.
func Gone(syscall.RawConn) bool { return false }

// Peek reports nothing: without a poller nothing calls it.
func Peek(syscall.RawConn) (gone, data bool) { return false, false }

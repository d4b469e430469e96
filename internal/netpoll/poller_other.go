//go:build !linux

package netpoll

import (
	"errors"
	"log/slog"
	"syscall"
)

// Handle is one socket's registration (see the Linux build).
type Handle struct {
	Raw   syscall.RawConn
	Ready func()
}

// Hangup reports false: without a poller nothing watches the socket.
func (*Handle) Hangup() bool { return false }

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

// Watch reports false: the caller waits for the socket itself.
func (*Poller) Watch(*Handle) bool { return false }

// ReadNonblock reports errors.ErrUnsupported: without a poller nothing
// calls it.
func ReadNonblock(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }

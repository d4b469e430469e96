//go:build !linux

package netpoll

import (
	"errors"
	"syscall"
)

// Writer is Linux only: without a poller nothing writes directly.
type Writer struct{}

// WriteNonblock reports errors.ErrUnsupported.
func (*Writer) WriteNonblock(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.ErrUnsupported
}

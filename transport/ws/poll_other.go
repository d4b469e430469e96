//go:build !linux

package ws

import (
	"errors"
	"syscall"
)

// poller is Linux only; elsewhere every connection keeps a reader goroutine.
type poller struct{}

func newPoller(*Handler) *poller { return nil }

func (*poller) arm(*conn) bool { return false }

func (*poller) forget(*conn) {}

// rawWriter is Linux only too: without a poller no connection has a raw
// socket, so fan-out never writes directly (see conn.Claim).
type rawWriter struct{}

func (*rawWriter) writeNonblock(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.ErrUnsupported
}

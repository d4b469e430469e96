//go:build !linux

package ws

// poller is Linux only; elsewhere every connection keeps a reader goroutine.
type poller struct{}

func newPoller(*Handler) *poller { return nil }

func (*poller) arm(*conn) bool { return false }

func (*poller) forget(*conn) {}

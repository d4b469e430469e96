//go:build linux

package ws

// OnPark makes h call f each time a connection parks in its poller. Call it
// before the first connection.
func OnPark(h *Handler, f func()) { h.onPark = f }

// OnFlush makes h call f each time a connection starts a flush goroutine
// (its writer). Call it before the first connection.
func OnFlush(h *Handler, f func()) { h.onFlush = f }

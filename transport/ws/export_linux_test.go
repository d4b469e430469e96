//go:build linux

package ws

// OnPark makes h call f each time a connection parks in its poller. Call it
// before the first connection.
func OnPark(h *Handler, f func()) { h.onPark = f }

//go:build linux

package ws

// OnPark makes h call f each time a connection parks in its poller. Call it
// before the first connection.
func OnPark(h *Handler, f func()) { h.onPark = f }

// OnFlush makes h call f each time a connection starts a flush goroutine
// (its writer). Call it before the first connection.
func OnFlush(h *Handler, f func()) { h.onFlush = f }

// OnEpoll makes h call f each time a parking connection changes its
// registration with the poller (a system call). Call it before the first
// connection.
func OnEpoll(h *Handler, f func()) { h.onEpoll = f }

// OnNote makes h call f each time the poller notes an arrival for a
// connection whose reader is running. Call it before the first connection.
func OnNote(h *Handler, f func()) { h.onNote = f }

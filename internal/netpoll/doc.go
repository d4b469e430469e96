// Package netpoll parks idle sockets in one epoll instance, so a connection
// that is waiting for its client has no goroutine at all: its owner arms the
// socket (one-shot, level-triggered) and lets its goroutine end; when the
// socket becomes readable or fails, the poller's goroutine calls the
// Handle's Ready func, which must not block. A socket may instead stay
// registered for its life, edge-triggered (Watch): Ready is then called on
// each arrival, with no call to arm it in between. The poller's goroutine runs
// while any socket is registered and ends with the last one.
//
// It is Linux only: elsewhere New returns nil and a nil *Poller arms
// nothing, so its users keep a goroutine per connection.
package netpoll

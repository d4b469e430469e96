// Package stream is Switchboard's shared vocabulary: publications, positions,
// cursors, channel names, namespace options and the sentinel errors that every
// other package branches on.
//
// It depends on the standard library only, so the hub, the brokers, the wire
// protocol and the transports can all speak it without importing each other.
// It owns no goroutines and no I/O.
package stream

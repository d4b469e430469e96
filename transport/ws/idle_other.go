//go:build !unix

package ws

import "net"

// awaitReadable does nothing here: the read itself waits.
func awaitReadable(net.Conn) {}

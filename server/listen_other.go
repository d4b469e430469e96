//go:build !unix

package server

// OpenFileLimit is 0 here: the limit is not known, and the node keeps the
// fixed defaults.
func OpenFileLimit() int { return 0 }

//go:build unix

package server

import (
	"math"
	"syscall"
)

// OpenFileLimit is the process's soft RLIMIT_NOFILE: how many descriptors
// it may hold open. On Linux and other unix systems the Go runtime raises
// the soft limit to the hard one at start, so this is what the node really
// has. It is 0 when the limit cannot be read, and at most math.MaxInt32
// when there is none.
func OpenFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur > math.MaxInt32 { // also RLIM_INFINITY
		return math.MaxInt32
	}
	return int(rl.Cur)
}

//go:build unix

package testkit

import (
	"syscall"
	"time"
)

// ProcessCPU is the user and system time the process has used so far, over
// all its threads. Benchmarks report the difference per operation beside
// the wall time: on a shared machine other processes take turns on the
// same cores, which the wall time counts and this does not.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

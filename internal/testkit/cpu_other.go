//go:build !unix

package testkit

import "time"

// ProcessCPU is not measured here: it is always 0.
func ProcessCPU() time.Duration { return 0 }

//go:build !unix

package server

import "time"

// processCPU is not measured here: the dashboard shows no CPU.
func processCPU() time.Duration { return 0 }

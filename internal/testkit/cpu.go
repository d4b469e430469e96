package testkit

import (
	"time"

	"github.com/switchboardhq/switchboard/internal/cputime"
)

// ProcessCPU is the user and system time the process has used so far, over
// all its threads (0 where it is not measured). Benchmarks report the
// difference per operation beside the wall time: on a shared machine other
// processes take turns on the same cores, which the wall time counts and
// this does not.
func ProcessCPU() time.Duration { return cputime.Process() }

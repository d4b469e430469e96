// Package cputime reads the CPU time the process has used: the node's
// dashboard shows it, and benchmarks report it per operation beside the
// wall time.
package cputime

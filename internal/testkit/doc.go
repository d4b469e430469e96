// Package testkit holds what Switchboard's tests share, so that each piece
// exists once: [Eventually], [EventuallyWithin] and [EventuallyNil] for
// waiting on a state without sleeping; a fake token [Verifier] and channel
// [Policy] with fixed rules; the test side of the node's HTTP endpoints —
// [Do] reads a [Response] whole, [Bearer] sends a token, [WantError] checks
// a refusal's coded body; the test side of Server-Sent Events —
// [SSEReader], which parses an event stream by the rules of the HTML
// standard, and [SSEStream], which reads one in the background with a
// deadline on every read; [ProcessCPU] for benchmarks to report CPU time
// beside wall time; a [Buffer] for what a process or a logger writes while
// the test reads it; and [BuildSwitchboard] for the tests that run real
// nodes.
//
// It imports only the standard library and [stream], so the tests of every
// package, internal ones included, can use it. What needs a hub lives in
// [github.com/switchboardhq/switchboard/internal/testkit/transporttest].
//
// The package is for tests only: nothing outside _test.go files imports it.
package testkit

// Package testkit holds what Switchboard's tests share, so that each piece
// exists once: [Eventually] for waiting on a state without sleeping, a fake
// token [Verifier] and channel [Policy] with fixed rules, and the test side
// of Server-Sent Events — [SSEReader], which parses an event stream by the
// rules of the HTML standard, and [SSEStream], which reads one in the
// background with a deadline on every read.
//
// It imports only the standard library and [stream], so the tests of every
// package, internal ones included, can use it. What needs a hub lives in
// [github.com/switchboardhq/switchboard/internal/testkit/transporttest].
//
// The package is for tests only: nothing outside _test.go files imports it.
package testkit

package brokertest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main is the TestMain of a broker whose tests talk to a server: it runs
// the tests and, if they pass, fails the binary if goroutines are left
// after them. Every broker and server is closed by its test, so nothing is
// ignored; but a client library may let its last goroutines go some time
// after Close (rueidis refreshes a cluster topology within a second of a
// connection closing; an embedded NATS server winds down in the
// background), which goleak's own patience, well under a second, does not
// cover. Main gives them patience to end.
func Main(m *testing.M, patience time.Duration) {
	code := m.Run()
	if code == 0 {
		if err := noLeaks(patience); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// noLeaks asks goleak until it finds no goroutine left, or patience has
// passed. Each goleak.Find itself retries with a growing pause before it
// reports, so the loop needs no pause of its own.
func noLeaks(patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

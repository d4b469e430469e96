package nats_test

import (
	"log/slog"
	"testing"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

// The benchmarks measure round trips to an embedded NATS server over
// loopback, in the same process: their times are mostly the server's and
// the kernel's, and allocs/op counts the server's allocations too.

// newBenchBroker is a broker on a NATS server of the benchmark's own,
// logging nothing.
func newBenchBroker(b *testing.B) hub.Broker {
	return newBroker(b, testenv.NATS(b), nats.Config{Logger: slog.New(slog.DiscardHandler)})
}

func BenchmarkPublish(b *testing.B)         { brokertest.BenchPublish(b, newBenchBroker) }
func BenchmarkPublishParallel(b *testing.B) { brokertest.BenchPublishParallel(b, newBenchBroker) }
func BenchmarkHistory(b *testing.B)         { brokertest.BenchHistory(b, newBenchBroker) }
func BenchmarkChannels(b *testing.B)        { brokertest.BenchChannels(b, newBenchBroker) }

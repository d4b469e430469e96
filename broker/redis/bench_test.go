package redis_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

// The benchmarks measure a round trip to a redis-server on loopback, so
// their times are mostly Redis's and the kernel's; allocs/op is the
// broker's own cost.

// newBenchBroker is a broker on a Redis of the benchmark's own, logging
// nothing.
func newBenchBroker(b *testing.B) hub.Broker {
	return newBroker(b, testenv.Redis(b), redis.Config{Logger: slog.New(slog.DiscardHandler)})
}

func BenchmarkPublish(b *testing.B)         { brokertest.BenchPublish(b, newBenchBroker) }
func BenchmarkPublishParallel(b *testing.B) { brokertest.BenchPublishParallel(b, newBenchBroker) }
func BenchmarkHistory(b *testing.B)         { brokertest.BenchHistory(b, newBenchBroker) }
func BenchmarkChannels(b *testing.B)        { brokertest.BenchChannels(b, newBenchBroker) }

// newReplicaBenchBroker is a broker on a primary with a replica: each
// publication waits for the replica and is then committed.
func newReplicaBenchBroker(b *testing.B) hub.Broker {
	primary, _ := withReplica(b)
	br := newBroker(b, primary, redis.Config{ReplicaTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	// Starting two servers and the replica's first sync are not what
	// is measured.
	b.ResetTimer()
	return br
}

func BenchmarkPublishReplica(b *testing.B) { brokertest.BenchPublish(b, newReplicaBenchBroker) }
func BenchmarkPublishParallelReplica(b *testing.B) {
	brokertest.BenchPublishParallel(b, newReplicaBenchBroker)
}

package memory_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/broker/brokertest"
	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
)

func newBenchBroker(*testing.B) hub.Broker { return memory.New(memory.Config{}) }

func BenchmarkPublish(b *testing.B)         { brokertest.BenchPublish(b, newBenchBroker) }
func BenchmarkPublishParallel(b *testing.B) { brokertest.BenchPublishParallel(b, newBenchBroker) }
func BenchmarkHistory(b *testing.B)         { brokertest.BenchHistory(b, newBenchBroker) }
func BenchmarkChannels(b *testing.B)        { brokertest.BenchChannels(b, newBenchBroker) }

// Package brokertest is the suite every Switchboard broker passes unchanged:
// memory today, Redis and NATS alike. A broker's own test calls
//
//	brokertest.Run(t, func(t *testing.T) hub.Broker { return memory.New(memory.Config{}) })
//
// and the suite checks, through the hub.Broker interface only, what the hub
// relies on: gapless offsets from 1, stable epochs, delivery in offset order
// that follows Subscribe and Unsubscribe, history size, TTL and paging,
// recoverability at the edges, idempotency keys, input checks and context
// cancellation, with many publishers and readers at once.
//
// It owns no broker and starts no server: newBroker does, and may hand out
// brokers that share storage (one Redis for every subtest), since each
// subtest uses channel names no other run uses. Subtests run in parallel.
// Nothing waits with a fixed sleep: the suite polls with a deadline, so a
// slow machine makes it slower, not flaky, and waits for a TTL to pass by
// watching history change.
//
// [RunNodes] adds the checks of brokers whose nodes share a backend (Redis,
// NATS): two nodes racing for one channel's offsets and idempotency keys.
//
// What is specific to one implementation (memory's sweeper, a Redis
// failover) is tested beside that implementation, not here, with what the
// package lends those tests so that each piece exists once: [Start] runs a
// broker and records what it delivers, checking the delivery promises as it
// goes; [Request], [Offsets], [Span] and [CheckSequence] build publications
// and check what came back; [Logger] sends a broker's log to the test's;
// [Main] is the TestMain of a broker on a server, checking for leaked
// goroutines with the patience its client library needs. The benchmarks
// ([BenchPublish], [BenchPublishParallel], [BenchHistory], [BenchChannels])
// run the same way against every broker.
package brokertest

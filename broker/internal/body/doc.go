// Package body is the one encoding of what a publisher gave — data, the
// optional idempotency key and client info — as the Redis and NATS brokers
// store it and carry it between nodes. Positions, times and history
// settings are not in it: each broker keeps those where its storage reads
// them without decoding the body (a Redis entry ID, NATS headers).
//
// Every node reads what other nodes wrote, so the format is versioned by
// its first byte and decoding never trusts its input.
package body

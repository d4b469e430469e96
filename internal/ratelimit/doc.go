// Package ratelimit holds the node's per-client request budgets: token
// buckets keyed by client, in a table whose size is itself bounded, so that
// counting clients cannot become a way to fill the node's memory.
//
// It owns the arithmetic and the table, not what a key is (the caller
// decides: a token's subject, an address) nor what a refusal looks like on
// the wire.
package ratelimit

// Package probe tells whether a broker answers: it asks it something every
// [Interval] and records whether the answer came within [Timeout]. A broker
// that hangs (a stopped process, a stuck script, a stream that lost its
// leader) keeps its connections open, so only an unanswered request shows
// it; the Redis and NATS brokers report it through their Healthy method,
// and so through /readyz.
//
// It owns no client library: each broker hands it the request to make.
package probe

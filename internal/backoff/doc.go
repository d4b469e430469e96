// Package backoff spaces retries: reconnections of the Go client and of the
// Redis and NATS brokers, and the brokers' resubscriptions. It owns the one
// growth rule (exponential from a minimum, capped) and the two ways of
// drawing a wait under it; it knows nothing of what is retried.
//
// It is internal to the module so that the client and the brokers share it
// without making it part of either's API.
package backoff

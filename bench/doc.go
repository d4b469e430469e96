// Package bench is Switchboard's load generator. It talks to a node over the
// network only — as real clients do — and can launch that node itself,
// pinned to its own CPU, to measure what users feel: memory per connection,
// delivery rate and latency, and resume under reconnect storms.
//
// It never imports the hub or the server: a measurement through the
// network is the only one that counts.
package bench

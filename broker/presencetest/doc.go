// Package presencetest is the suite every hub.Presence implementation
// passes: presencetest.Run(t, newPresence) for one node, and
// presencetest.RunShared(t, newPair) for implementations that share
// presence between nodes.
//
// It checks behaviour only — entries, refreshes, expiry, join and leave
// events — and never how an implementation stores them.
package presencetest

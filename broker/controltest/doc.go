// Package controltest is the suite every hub.Control implementation
// passes: controltest.Run(t, newPair), where newPair returns two nodes'
// Controls that share one backend.
//
// It checks behaviour only — every node, the sender included, receives
// every message, byte for byte and in the order one node sent them — and
// never how an implementation carries them.
package controltest

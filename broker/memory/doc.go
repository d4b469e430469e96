// Package memory is Switchboard's default Broker: one node, no dependencies,
// everything held in the process's memory.
//
// It owns, per channel, the epoch, the offset counter, a bounded history ring
// and the idempotency keys, plus the node's set of subscribed channels. It
// delivers a publication to the node the moment it is stored, under the
// channel's lock, so deliveries of one channel are in offset order and never
// overlap. Channels live in a sharded map with one small mutex each: no
// goroutine per channel and no global lock on the publish path.
//
// It does not own fan-out to sessions (the hub does), namespaces (the hub
// passes history settings in each PublishRequest) or anything that must
// survive a restart: when the process ends, every channel's history ends with
// it, and the next life of a channel has a new epoch, which is how clients
// learn that their positions no longer apply.
//
// It implements hub.Broker without importing package hub;
// broker/brokertest is the suite it passes. Presence, beside it, is the
// single node's hub.Presence, and passes broker/presencetest.
package memory

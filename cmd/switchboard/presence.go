package main

import (
	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/broker/nats"
	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/hub"
)

// newPresence returns the presence that goes with the broker: kept in
// memory beside the memory broker, in Redis beside the Redis broker, in a
// JetStream key-value bucket beside the NATS broker. A
// broker without a presence of its own gets none, and presence requests
// answer "not available" (code 108).
func newPresence(b hub.Broker) hub.Presence {
	switch b := b.(type) {
	case *memory.Broker:
		return memory.NewPresence(memory.PresenceConfig{})
	case *redis.Broker:
		return redis.NewPresence(b)
	case *nats.Broker:
		return nats.NewPresence(b)
	}
	return nil
}

// newControl returns what carries control messages (a user's disconnect)
// between the nodes on the broker. A broker without one gets none, and
// POST /api/disconnect acts on the node it reaches only.
func newControl(b hub.Broker) hub.Control {
	switch b := b.(type) {
	case *memory.Broker:
		return memory.NewControl()
	case *redis.Broker:
		return redis.NewControl(b)
	case *nats.Broker:
		return nats.NewControl(b)
	}
	return nil
}

// Package relay is the delivery side of the brokers that carry publications
// between nodes, Redis and NATS: it checks every live publication against
// the position last delivered for its channel, fills gaps and epoch changes
// from history, repairs the subscriptions after an interruption, and
// delivers in offset order, exactly once. It owns the node's set of
// subscribed channels and their positions ([Set], [Sub]) and the one
// decision for each error the delivery side meets (see [Relay]).
//
// It does not own a connection, a message format or a history: a broker
// reads its own messages into a [Live] and hands it to [Relay.Handle], runs
// [Relay.Repair] when its connection may have missed something, and gives
// the relay its History. The broker's own loop decides how to wait and
// reconnect; [Retry] spaces its attempts.
//
// The memory broker delivers as it publishes and needs none of this.
package relay

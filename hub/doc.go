// Package hub is a Switchboard node: sessions, subscriptions, fan-out,
// bounded outbound queues and resume.
//
// A Session is one connected client, whatever its transport. Everything the
// node sends it — replies, replayed and live publications, pings — goes into
// the session's bounded queue, and the transport's single writer drains the
// queue with one write. The hub never blocks on a session: a queue over its
// byte limit ends that session with stream.ErrSlowConsumer, and the client
// resumes from its position later.
//
// Fan-out encodes a publication once per Encoder (one per wire format) and
// queues the same bytes to every subscriber using it.
//
// Subscribing with a position merges history and live delivery with no gap
// and no duplicate at the seam: the subscription joins the channel first and
// buffers live publications, history is read from the Broker, and the buffer
// is merged by offset.
//
// Presence lists the clients of channels whose namespace has presence on:
// the hub adds a session's entry when it subscribes, removes it when it
// leaves, and refreshes its entries every third of PresenceTTL so that a
// node that dies leaves none behind; join and leave events from every node
// are pushed to local subscribers where the namespace has join_leave on.
//
// The hub owns no network code: it declares the Broker, Presence, Policy and
// Encoder interfaces it needs and is handed implementations. Transports (package
// transport/...) own connections; brokers (package broker/...) own offsets and
// history.
package hub

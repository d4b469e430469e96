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
// is merged by offset. The replay is paced by the session's writer, so on a
// busy channel the buffer is capped (a quarter of [Config.QueueLimit]): live
// publications are in history too, so one that overflows it drops the
// buffer, and the replay reads on from history up to the channel's newest
// position before it switches to live delivery. A resuming subscriber thus
// catches up however busy the channel; it is ended as slow only when its
// writer takes nothing for 30 seconds or its queue overflows.
//
// Presence lists the clients of channels whose namespace has presence on:
// the hub adds a session's entry when it subscribes, removes it when it
// leaves, and refreshes its entries every third of PresenceTTL so that a
// node that dies leaves none behind; join and leave events from every node
// are pushed to local subscribers where the namespace has join_leave on.
//
// # The life of a publication
//
// This is the path of one POST /api/publish to a WebSocket client's writev
// and to an SSE client's write, on a node with the memory broker:
//
//  1. The server's mux hands the request to the API wrapper, which checks
//     the API key and method, then to the publish handler (unexported in
//     [github.com/switchboardhq/switchboard/server]). It reads the body with
//     [github.com/switchboardhq/switchboard/transport.ReadJSON] into a
//     [github.com/switchboardhq/switchboard/protocol.PublishRequest] and checks
//     its data with [github.com/switchboardhq/switchboard/protocol.RequireData].
//  2. [Hub.Publish] resolves the channel's namespace (its history size and
//     TTL), checks the size and compacts the JSON once, and calls
//     [Broker.Publish]. A client's publish takes the same path through
//     [Hub.PublishAs] or [Session.Publish], after the namespace's publish
//     rule ([Policy]).
//  3. The broker assigns the next offset and stores the publication in
//     history. [github.com/switchboardhq/switchboard/broker/memory.Broker.Publish]
//     then calls the deliver func that [Hub.Run] handed to [Broker.Run],
//     still under the channel's lock, which is what keeps deliveries in
//     offset order. The Redis and NATS brokers instead send the publication
//     to every subscribed node; there each broker's Run hands it to its
//     relay (broker/internal/relay, Relay.Handle), which fills any gap from
//     history before calling deliver.
//  4. deliver (the hub's fan-out) finds the channel's local subscribers,
//     encodes the publication once per [Encoder] ([Encoder.Publication]) and
//     queues the same bytes to each subscriber's [Session]; a subscriber
//     still merging its history buffers them instead, or leaves them to
//     its replay when its buffer is full. A queue over [Config.QueueLimit]
//     ends that session with stream.ErrSlowConsumer. A session whose
//     connection takes direct writes ([SessionOptions.Direct]: WebSocket
//     over plain TCP, SSE over plain HTTP/1.1) and is idle — nothing
//     queued, no writer running — is claimed instead ([Direct.Claim]), and the channel's pass (Hub.pass, a
//     goroutine per channel while it has claims) writes the bytes to it
//     after the channel's lock is released ([Direct.WriteNow]: one
//     non-blocking write, with whatever queued behind the claim meanwhile).
//  5. The session's queue going from empty to non-empty wakes its writer:
//     [SessionOptions.Wake] for a WebSocket connection and an SSE stream
//     over HTTP/1.1, the [Session.Ready] channel for the others. A claimed connection's writer is
//     woken by WriteNow instead, when the socket did not take everything.
//  6. WebSocket: the connection's writer (transport/ws, conn.flush) takes
//     the whole queue with [Session.Take] and sends every frame in it with
//     one vectored write ([net.Buffers.WriteTo], a writev), under the
//     write deadline; a direct write (conn.WriteNow) is the same writev,
//     non-blocking, made by the channel's pass.
//  7. SSE: the stream's writer takes the queue with [Session.Take], appends
//     each publication's event followed by an id line holding the
//     connection's cursor, and sends it in one write: over plain HTTP/1.1
//     a goroutine started by Wake (transport/sse, eventStream.drain), or
//     the fan-out's pass itself (eventStream.WriteNow, which frames the
//     item it is given); otherwise the request's goroutine
//     (eventStream.run), woken by [Session.Ready], with one flush.
//
// A long or short poll never holds a session between requests: the poll
// handler opens one per request, subscribes from the request's cursor (the
// replay comes from [Broker.History] through the same merge as a resume),
// and answers with what the queue holds.
//
// The hub owns no network code: it declares the Broker, Presence, Policy and
// Encoder interfaces it needs and is handed implementations. Transports (package
// transport/...) own connections; brokers (package broker/...) own offsets and
// history.
package hub

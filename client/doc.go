// Package client is Switchboard's Go client: it connects to a node over
// WebSocket, Server-Sent Events, long polling or short polling, subscribes
// to channels, and delivers every publication in order, once, across
// reconnections and changes of transport, within each channel's history
// window.
//
// Build a Client with New, subscribe, and call Run, which keeps the
// connection until its context ends:
//
//	c, err := client.New("https://rt.example.com", client.Options{Token: token})
//	if err != nil {
//		return err // a bad URL or bad options
//	}
//	sub, _ := c.Subscribe("chat:lobby", client.SubscribeOptions{})
//	go c.Run(ctx)
//	for {
//		ev, err := sub.Next(ctx)
//		if err != nil {
//			break
//		}
//		switch ev := ev.(type) {
//		case client.Publication:
//			// ev.Offset, ev.Data ...
//		case client.Gap:
//			// publications were lost: reload the state
//		}
//	}
//
// # Connection
//
// Run tries the transports of Options.Transports in order (WebSocket, SSE,
// long polling by default; GRPC, the switchboard.v1.ClientService stream,
// when listed). A transport that cannot be opened within
// OpenTimeout, or is cut before the node's first frame (the connect reply,
// the SSE connected event, the first poll answer), is abandoned for the
// next; the one that worked is tried first from then on, and the better ones
// are tried again every UpgradeInterval. A connection that drops is made
// again on the same transport after a backoff with full jitter between
// MinBackoff and MaxBackoff, which starts over once a connection has lasted
// StableAfter. A WebSocket, SSE or gRPC stream silent for longer than the node's
// ping interval plus PingGrace is taken for dead. Run returns when the node
// says not to come back (disconnect with "reconnect": false, a refused
// token): see Run. State and Options.OnState report the connection's state.
//
// When the node says the token expired (disconnect 3005, error 109), the
// client asks Options.GetToken for a fresh one and reconnects.
//
// # Subscriptions
//
// Each Subscription keeps the position of its channel — the last
// publication delivered, or where the node started it — and resumes from it
// on every reconnection, whatever the transport: as "since" in a WebSocket
// subscribe, as each channel's position in a gRPC Subscribe call, and in
// the cursor of an SSE stream or a poll, which the client
// builds from its positions (the cursor format is shared, so a client can
// move from WebSocket to SSE and back without a gap). A publication at or
// below the position is dropped, so none is delivered twice. When the node
// cannot replay everything since the position (the position fell out of the
// history, or the channel's epoch changed), the subscription reports a Gap:
// the application should reload its state.
//
// Events (Publication, Subscribed, Gap, Error, Unsubscribed, and Join and
// Leave where the channel's namespace has presence events) wait in a
// queue per subscription until Subscription.Next takes them: a slow reader
// holds up nobody, and Next can be called in a select-free loop with a
// context.
//
// # Publishing
//
// Publish sends over the WebSocket when there is one, with the client
// service's Publish call when connected over gRPC (or when gRPC is the
// only transport besides WebSocket), and to POST /connection/publish
// otherwise. Every publish carries an idempotency
// key (one is drawn when none is given), and failed attempts are retried
// with the same key, so a publish that timed out or met a reconnection is
// delivered once. History and Presence ask over the WebSocket when there
// is one, over the client service's calls on gRPC, else
// GET /connection/history and GET /connection/presence. A polling client keeps the client
// id the node gave its first poll, so presence counts it once.
//
// The package imports the wire format (protocol), the shared vocabulary
// (stream), the module's small WebSocket client (internal/wsclient), and
// for gRPC connect-go with the generated switchboard.v1 code and the
// shared status mapping (internal/grpcerr); it knows nothing of the node's
// insides.
package client

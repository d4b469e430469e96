package sse

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// Every value framed here is JSON from package protocol or encoding/json (one
// line, no CR or LF) or a cursor (URL-safe base64), so no field ever needs
// splitting over several lines.

// encoder is the hub.Encoder of SSE sessions. A publication becomes its data
// line only: the id line that ends the event depends on the connection's
// other channels, so the writer adds it.
type encoder struct{}

var sseEncoder hub.Encoder = &encoder{}

// pingEvent is an event named "ping": proxies see traffic, an onmessage
// handler never sees it, and a client that listens for it (the SDKs) knows
// the stream is alive — a comment would be invisible to EventSource.
var pingEvent = []byte("event: ping\ndata: {}\n\n")

// publicationSlack covers what protocol.AppendPublication adds around the
// publication's strings (keys, numbers, quotes), plus "data: " and the
// newline, so the event is built in one allocation. Escaped characters in a
// key may still need more; append then grows the slice as usual.
const publicationSlack = 192

func (*encoder) Publication(p *stream.Publication) []byte {
	n := publicationSlack + len(p.Channel) + len(p.Epoch) + len(p.Data) + len(p.Key)
	if p.Info != nil {
		n += len(p.Info.Client) + len(p.Info.User) + len(p.Info.Info)
	}
	b := make([]byte, 0, n)
	b = append(b, "data: "...)
	b = protocol.AppendPublication(b, p)
	return append(b, '\n')
}

func (*encoder) Ping() []byte { return pingEvent }

func (*encoder) Presence(channel string, join bool, info *stream.ClientInfo) []byte {
	n := 96 + len(channel)
	if info != nil {
		n += len(info.Client) + len(info.User) + len(info.Info)
	}
	b := make([]byte, 0, n)
	if join {
		b = append(b, "event: join\ndata: "...)
	} else {
		b = append(b, "event: leave\ndata: "...)
	}
	b = protocol.AppendPresenceEvent(b, channel, join, info)
	return append(b, "\n\n"...)
}

// Gap is an event named "gap" whose data is the WebSocket gap push: a
// plain onmessage handler is not handed it as a publication, and a client
// that listens for it (the SDKs) learns that the channel's history was
// replaced. The writer ends it with the connection's cursor, which it
// moves to the start of the new epoch, as it does after a publication.
func (*encoder) Gap(g *hub.Gap) []byte {
	b := make([]byte, 0, 128+len(g.Channel)+len(g.From.Epoch)+len(g.Epoch))
	b = append(b, "event: gap\ndata: "...)
	b = protocol.AppendGap(b, g.Channel, g.From, g.Epoch)
	return append(b, '\n')
}

// Unsubscribed returns nil: an event stream's token is never refreshed
// in place (its client reconnects with a new one, whose channels are
// checked as it connects), so the node never ends one of its
// subscriptions on its own.
func (*encoder) Unsubscribed(string, error) []byte { return nil }

// appendID ends a publication event with the connection's cursor.
func appendID(dst []byte, c *stream.Cursor) []byte {
	dst = append(dst, "id: "...)
	dst = c.AppendText(dst)
	return append(dst, "\n\n"...)
}

// appendRetry writes the reconnect delay in a block of its own: a block with
// no data dispatches no event.
func appendRetry(dst []byte, ms int64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, "\n\n"...)
}

// channelState is one channel of the connected event, in the shape of a
// WebSocket subscribe reply: the channel's latest position and whether the
// client's position was recovered.
type channelState struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Recovered bool   `json:"recovered"`
}

type connectedData struct {
	Client   string                  `json:"client"`
	Channels map[string]channelState `json:"channels"`
	// PingInterval is how often, in seconds, a ping event comes, as in
	// the WebSocket connect reply: a client that hears nothing for longer
	// (plus a grace period) takes the stream for dead.
	PingInterval int `json:"ping_interval"`
}

// appendConnected writes the event that opens every stream:
//
//	event: connected
//	id: <cursor with the starting positions>
//	data: {"client":"...","channels":{"chat:lobby":{"epoch":"x1","offset":44,"recovered":true}},"ping_interval":25}
//
// It is sent once per connection, so encoding/json's cost does not matter;
// it also sorts the channels, which keeps the event the same for the same
// request.
func appendConnected(dst []byte, client string, results []hub.SubscribeResult, start *stream.Cursor, ping time.Duration) []byte {
	d := connectedData{
		Client:       client,
		Channels:     make(map[string]channelState, len(results)),
		PingInterval: int((ping + time.Second - 1) / time.Second),
	}
	for _, r := range results {
		d.Channels[r.Channel] = channelState{Epoch: r.Latest.Epoch, Offset: r.Latest.Offset, Recovered: r.Recovered}
	}
	data, _ := json.Marshal(d) // cannot fail: strings, numbers and booleans only
	dst = append(dst, "event: connected\nid: "...)
	dst = start.AppendText(dst)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}

// appendDisconnect writes the last event of a stream the server ends.
func appendDisconnect(dst []byte, d protocol.Disconnect) []byte {
	dst = append(dst, "event: disconnect\ndata: "...)
	dst = protocol.AppendDisconnect(dst, d)
	return append(dst, "\n\n"...)
}

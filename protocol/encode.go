package protocol

import (
	"strconv"

	"github.com/switchboardhq/switchboard/stream"
)

// The encoders below write every frame the server sends. Each appends to dst
// and returns the extended slice, allocating only when dst must grow; the
// publication encoders size dst up front so that encoding into a nil slice
// costs exactly one allocation.
//
// Field order is fixed and matches the golden frames in testdata/frames, so
// clients and tests may compare bytes. Optional fields are left out when
// empty; fields a frame always has (offset, recovered, reconnect, ...) are
// written even when zero, so that a reader never has to guess a default.

// frameOverhead is more than the keys and numbers of any publication frame
// take, so that sizing dst for its strings and raw values leaves room for the
// rest.
const frameOverhead = 160

// grow makes room for n more bytes in one allocation. (slices.Grow does the
// same, but costs a second allocation under the race detector.)
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	b := make([]byte, len(dst), len(dst)+n)
	copy(b, dst)
	return b
}

func publicationSize(p *stream.Publication) int {
	n := frameOverhead + len(p.Channel) + len(p.Epoch) + len(p.Data) + len(p.Key)
	if p.Info != nil {
		n += len(p.Info.Client) + len(p.Info.User) + len(p.Info.Info)
	}
	return n
}

// AppendPublication appends p in the shape SSE, polling and history share:
//
//	{"channel":"chat:lobby","epoch":"x1","offset":42,"data":{"text":"hi"},"time":1763884800123}
//
// followed by "key" when p has one and "info" when p came from a client.
// p.Data must hold one JSON value; empty Data is written as null.
func AppendPublication(dst []byte, p *stream.Publication) []byte {
	dst = grow(dst, publicationSize(p))
	dst = append(dst, '{')
	return appendPublicationFields(dst, p)
}

// AppendMessage appends p as a WebSocket message push: the publication shape
// with "type":"message" first.
func AppendMessage(dst []byte, p *stream.Publication) []byte {
	dst = grow(dst, publicationSize(p))
	dst = append(dst, `{"type":"message",`...)
	return appendPublicationFields(dst, p)
}

func appendPublicationFields(dst []byte, p *stream.Publication) []byte {
	dst = append(dst, `"channel":`...)
	dst = appendString(dst, p.Channel)
	dst = append(dst, `,"epoch":`...)
	dst = appendString(dst, p.Epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, p.Offset, 10)
	dst = append(dst, `,"data":`...)
	dst = appendRaw(dst, p.Data)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, p.Time, 10)
	if p.Key != "" {
		dst = append(dst, `,"key":`...)
		dst = appendString(dst, p.Key)
	}
	if p.Info != nil {
		dst = append(dst, `,"info":`...)
		dst = appendClientInfo(dst, p.Info)
	}
	return append(dst, '}')
}

// appendClientInfo appends {"client":..,"user":..,"info":..}, leaving out an
// empty user (anonymous clients) and empty info.
func appendClientInfo(dst []byte, c *stream.ClientInfo) []byte {
	dst = append(dst, '{')
	dst = appendClientFields(dst, c)
	return append(dst, '}')
}

func appendClientFields(dst []byte, c *stream.ClientInfo) []byte {
	dst = append(dst, `"client":`...)
	dst = appendString(dst, c.Client)
	if c.User != "" {
		dst = append(dst, `,"user":`...)
		dst = appendString(dst, c.User)
	}
	if len(c.Info) > 0 {
		dst = append(dst, `,"info":`...)
		dst = appendRaw(dst, c.Info)
	}
	return dst
}

// appendReplyHead appends {"type":"<typ>","id":<id> for a reply; typ must be
// one of the Type constants, which need no escaping.
func appendReplyHead(dst []byte, typ string, id uint64) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","id":`...)
	return strconv.AppendUint(dst, id, 10)
}

func appendChannel(dst []byte, channel string) []byte {
	dst = append(dst, `,"channel":`...)
	return appendString(dst, channel)
}

// appendPositionFields appends ,"epoch":..,"offset":..
func appendPositionFields(dst []byte, p stream.Position) []byte {
	dst = append(dst, `,"epoch":`...)
	dst = appendString(dst, p.Epoch)
	dst = append(dst, `,"offset":`...)
	return strconv.AppendUint(dst, p.Offset, 10)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// AppendConnectReply appends the answer to connect:
//
//	{"type":"connect","id":1,"client":"c8f1...","ping_interval":25}
//
// pingInterval is in seconds.
func AppendConnectReply(dst []byte, id uint64, client string, pingInterval int) []byte {
	dst = appendReplyHead(dst, TypeConnect, id)
	dst = append(dst, `,"client":`...)
	dst = appendString(dst, client)
	dst = append(dst, `,"ping_interval":`...)
	dst = strconv.AppendInt(dst, int64(pingInterval), 10)
	return append(dst, '}')
}

// AppendSubscribeReply appends the answer to subscribe, where latest is the
// channel's newest position and recovered says whether every publication
// after the client's since could be replayed:
//
//	{"type":"subscribe","id":2,"channel":"chat:lobby","epoch":"x1","offset":44,"recovered":true}
func AppendSubscribeReply(dst []byte, id uint64, channel string, latest stream.Position, recovered bool) []byte {
	dst = appendReplyHead(dst, TypeSubscribe, id)
	dst = appendChannel(dst, channel)
	dst = appendPositionFields(dst, latest)
	dst = append(dst, `,"recovered":`...)
	dst = appendBool(dst, recovered)
	return append(dst, '}')
}

// AppendUnsubscribeReply appends the answer to unsubscribe:
//
//	{"type":"unsubscribe","id":5,"channel":"chat:lobby"}
func AppendUnsubscribeReply(dst []byte, id uint64, channel string) []byte {
	dst = appendReplyHead(dst, TypeUnsubscribe, id)
	dst = appendChannel(dst, channel)
	return append(dst, '}')
}

// AppendPublishReply appends the answer to publish, with the position the
// publication landed at (the first one's, for a repeated idempotency key):
//
//	{"type":"publish","id":3,"epoch":"x1","offset":45}
func AppendPublishReply(dst []byte, id uint64, pos stream.Position) []byte {
	dst = appendReplyHead(dst, TypePublish, id)
	dst = appendPositionFields(dst, pos)
	return append(dst, '}')
}

// AppendHistoryReply appends the answer to history: the channel's latest
// position and the publications, each in the AppendPublication shape:
//
//	{"type":"history","id":6,"channel":"c","epoch":"x1","offset":44,"publications":[...]}
func AppendHistoryReply(dst []byte, id uint64, channel string, pubs []*stream.Publication, latest stream.Position) []byte {
	n := frameOverhead + len(channel) + len(latest.Epoch)
	for _, p := range pubs {
		n += publicationSize(p)
	}
	dst = grow(dst, n)
	dst = appendReplyHead(dst, TypeHistory, id)
	dst = appendChannel(dst, channel)
	dst = appendPositionFields(dst, latest)
	dst = append(dst, `,"publications":[`...)
	for i, p := range pubs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		dst = appendPublicationFields(dst, p)
	}
	return append(dst, "]}"...)
}

// AppendPresenceReply appends the answer to presence, one entry per
// connection subscribed to the channel:
//
//	{"type":"presence","id":7,"channel":"c","clients":[{"client":"..","user":".."}]}
func AppendPresenceReply(dst []byte, id uint64, channel string, clients []stream.ClientInfo) []byte {
	dst = appendReplyHead(dst, TypePresence, id)
	dst = appendChannel(dst, channel)
	dst = append(dst, `,"clients":[`...)
	for i := range clients {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendClientInfo(dst, &clients[i])
	}
	return append(dst, "]}"...)
}

// AppendRefreshReply appends the answer to refresh, with when the new token
// expires in Unix seconds (0: never):
//
//	{"type":"refresh","id":8,"expires":1763888400}
func AppendRefreshReply(dst []byte, id uint64, expires int64) []byte {
	dst = appendReplyHead(dst, TypeRefresh, id)
	dst = append(dst, `,"expires":`...)
	dst = strconv.AppendInt(dst, expires, 10)
	return append(dst, '}')
}

// AppendErrorReply appends the failed answer to the command typ with the
// given id:
//
//	{"type":"subscribe","id":4,"error":{"code":103,"message":"permission denied"}}
//
// A command that could not be read far enough to have both a type and an id
// cannot be answered as itself, so with id 0 or an empty typ the frame is an
// error push instead: {"type":"error","error":{...}}. typ is escaped, since
// it may be an unknown type the client sent.
func AppendErrorReply(dst []byte, typ string, id uint64, e Error) []byte {
	if id == 0 || typ == "" {
		dst = append(dst, `{"type":"error"`...)
	} else {
		dst = append(dst, `{"type":`...)
		dst = appendString(dst, typ)
		dst = append(dst, `,"id":`...)
		dst = strconv.AppendUint(dst, id, 10)
	}
	dst = append(dst, `,"error":`...)
	dst = appendError(dst, e)
	return append(dst, '}')
}

// AppendErrorBody appends the body the HTTP API and the HTTP transports send
// with e.HTTPStatus(), and the data of an SSE error event:
//
//	{"error":{"code":103,"message":"permission denied"}}
func AppendErrorBody(dst []byte, e Error) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendError(dst, e)
	return append(dst, '}')
}

func appendError(dst []byte, e Error) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendUint(dst, uint64(e.Code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, e.Message)
	return append(dst, '}')
}

// AppendPing appends the keep-alive push, {"type":"ping"}, which a client
// answers with {"type":"pong"}.
func AppendPing(dst []byte) []byte {
	return append(dst, `{"type":"ping"}`...)
}

// AppendPresenceEvent appends a join push (join true) or a leave push for a
// channel with join and leave events on:
//
//	{"type":"join","channel":"chat:lobby","client":"...","user":"..."}
//
// with "user" left out for an anonymous client and "info" added when the
// client's token carries some.
func AppendPresenceEvent(dst []byte, channel string, join bool, info *stream.ClientInfo) []byte {
	if join {
		dst = append(dst, `{"type":"join"`...)
	} else {
		dst = append(dst, `{"type":"leave"`...)
	}
	dst = appendChannel(dst, channel)
	dst = append(dst, ',')
	if info == nil {
		info = &noClient
	}
	dst = appendClientFields(dst, info)
	return append(dst, '}')
}

var noClient stream.ClientInfo

// AppendUnsubscribed appends the push that tells a client the server ended
// one of its subscriptions, and why:
//
//	{"type":"unsubscribed","channel":"chat:lobby","code":103,"reason":"permission denied"}
func AppendUnsubscribed(dst []byte, channel string, e Error) []byte {
	dst = append(dst, `{"type":"unsubscribed"`...)
	dst = appendChannel(dst, channel)
	dst = append(dst, `,"code":`...)
	dst = strconv.AppendUint(dst, uint64(e.Code), 10)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, e.Message)
	return append(dst, '}')
}

// AppendGap appends the push that tells a subscriber its channel's history
// was replaced under it (the broker lost it): the position it had, and the
// new epoch, whose publications follow from its start. It says what a
// subscribe reply with "recovered": false says, for a subscription that is
// already live:
//
//	{"type":"gap","channel":"chat:lobby","from":{"epoch":"x1","offset":44},"epoch":"x2","recovered":false}
func AppendGap(dst []byte, channel string, from stream.Position, epoch string) []byte {
	dst = append(dst, `{"type":"gap"`...)
	dst = appendChannel(dst, channel)
	dst = append(dst, `,"from":{"epoch":`...)
	dst = appendString(dst, from.Epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, from.Offset, 10)
	dst = append(dst, `},"epoch":`...)
	dst = appendString(dst, epoch)
	return append(dst, `,"recovered":false}`...)
}

// AppendDisconnect appends the push sent just before the server closes a
// session; the WebSocket close frame that follows carries the same code and
// reason:
//
//	{"type":"disconnect","code":3001,"reason":"shutdown","reconnect":true}
func AppendDisconnect(dst []byte, d Disconnect) []byte {
	dst = append(dst, `{"type":"disconnect","code":`...)
	dst = strconv.AppendUint(dst, uint64(d.Code), 10)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, d.Reason)
	dst = append(dst, `,"reconnect":`...)
	dst = appendBool(dst, d.Reconnect)
	return append(dst, '}')
}

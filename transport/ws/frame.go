package ws

import (
	"encoding/binary"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// Server frames are never masked, so a frame is header + payload and can be
// built once and written to any number of connections.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
	finBit  = 0x80
	maxHead = 10
)

// framed builds a frame around a payload appended by fill, reserving room for
// the longest header in front so the payload is written once, in place.
func framed(op byte, sizeHint int, fill func([]byte) []byte) []byte {
	b := make([]byte, maxHead, maxHead+sizeHint)
	b = fill(b)
	n := len(b) - maxHead
	var hl int
	switch {
	case n < 126:
		hl = 2
	case n <= 0xFFFF:
		hl = 4
	default:
		hl = 10
	}
	h := b[maxHead-hl : maxHead]
	h[0] = finBit | op
	switch hl {
	case 2:
		h[1] = byte(n)
	case 4:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	return b[maxHead-hl:]
}

func textFrame(sizeHint int, fill func([]byte) []byte) []byte {
	return framed(opText, sizeHint, fill)
}

// closeFrame carries a disconnect code and reason, truncated to the 123
// bytes a control frame allows.
func closeFrame(d protocol.Disconnect) []byte {
	reason := d.Reason
	if len(reason) > 123 {
		reason = reason[:123]
	}
	return framed(opClose, 2+len(reason), func(b []byte) []byte {
		b = binary.BigEndian.AppendUint16(b, uint16(d.Code))
		return append(b, reason...)
	})
}

// encoder is the hub.Encoder of WebSocket sessions: every publication becomes
// one complete text frame, shared by all subscribers.
type encoder struct{}

var (
	wsEncoder hub.Encoder = &encoder{}
	pingFrame             = textFrame(16, protocol.AppendPing)
)

func (*encoder) Publication(p *stream.Publication) []byte {
	return textFrame(len(p.Data)+len(p.Channel)+96, func(b []byte) []byte {
		return protocol.AppendMessage(b, p)
	})
}

func (*encoder) Ping() []byte { return pingFrame }

func (*encoder) Presence(channel string, join bool, info *stream.ClientInfo) []byte {
	return textFrame(len(channel)+64, func(b []byte) []byte {
		return protocol.AppendPresenceEvent(b, channel, join, info)
	})
}

func (*encoder) Unsubscribed(channel string, err error) []byte {
	return textFrame(len(channel)+96, func(b []byte) []byte {
		return protocol.AppendUnsubscribed(b, channel, protocol.ErrorFor(err))
	})
}

func (*encoder) Gap(g *hub.Gap) []byte {
	return textFrame(len(g.Channel)+len(g.From.Epoch)+len(g.Epoch)+96, func(b []byte) []byte {
		return protocol.AppendGap(b, g.Channel, g.From, g.Epoch)
	})
}

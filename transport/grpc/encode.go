package grpc

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/switchboardhq/switchboard/hub"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// encoder is the hub.Encoder of gRPC sessions, one per message format: a
// publication becomes a SubscribeResponse in binary protobuf (protoEncoder)
// or protojson (jsonEncoder) once per fan-out, and the same bytes go to
// every stream of that format. A node whose gRPC subscribers all speak
// binary never makes the JSON encoding: the hub calls an Encoder only for
// the sessions that use it.
//
// What an encoder returns is a run of enveloped messages: each a flag byte
// (0, not compressed), its length as four bytes big-endian, and the
// message — the framing of a streamed message in gRPC, gRPC-Web and
// Connect alike. The hub appends the join and leave events of a channel one
// after the other into one push (see hub.Encoder.Presence); the writer
// sends a run as it is (see writer.items), or splits it back into messages.
type encoder struct{ json bool }

var (
	protoEncoder hub.Encoder = &encoder{}
	jsonEncoder  hub.Encoder = &encoder{json: true}
)

// encoderFor is the encoder of a stream read with codec json or binary.
func encoderFor(json bool) hub.Encoder {
	if json {
		return jsonEncoder
	}
	return protoEncoder
}

func (e *encoder) encode(m *switchboardv1.SubscribeResponse) []byte {
	var b []byte
	var err error
	if e.json {
		b, err = protojson.Marshal(m)
	} else {
		b, err = proto.Marshal(m)
	}
	if err != nil {
		// Every field is a string, number or message of the schema;
		// strings are UTF-8 (channel names are ASCII, data is checked
		// JSON), so marshalling cannot fail.
		panic("grpc: encode event: " + err.Error())
	}
	out := make([]byte, envelopeSize, envelopeSize+len(b))
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

// envelopeSize is the framing before each streamed message.
const envelopeSize = 5

// messages splits an item's bytes into messages (see encoder). It stops
// at anything malformed, which the encoders never produce.
func messages(b []byte, yield func([]byte) bool) {
	for len(b) >= envelopeSize {
		n := binary.BigEndian.Uint32(b[1:envelopeSize])
		b = b[envelopeSize:]
		if uint64(len(b)) < uint64(n) {
			return
		}
		if !yield(b[:n]) {
			return
		}
		b = b[n:]
	}
}

func (e *encoder) Publication(p *stream.Publication) []byte {
	return e.encode(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Publication{Publication: Publication(p)}})
}

func (e *encoder) Ping() []byte {
	return e.encode(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Ping{Ping: &switchboardv1.Ping{}}})
}

func (e *encoder) Presence(channel string, join bool, info *stream.ClientInfo) []byte {
	if join {
		return e.encode(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Join{Join: &switchboardv1.Join{Channel: channel, Client: ClientInfo(info)}}})
	}
	return e.encode(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Leave{Leave: &switchboardv1.Leave{Channel: channel, Client: ClientInfo(info)}}})
}

func (e *encoder) Unsubscribed(channel string, err error) []byte {
	pe := protocol.ErrorFor(err)
	return e.encode(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Unsubscribed{Unsubscribed: &switchboardv1.Unsubscribed{
		Channel: channel, Error: &switchboardv1.Error{Code: pe.Code, Message: pe.Message},
	}}})
}

func (e *encoder) Gap(g *hub.Gap) []byte {
	return e.encode(&switchboardv1.SubscribeResponse{Event: &switchboardv1.SubscribeResponse_Gap{Gap: &switchboardv1.Gap{
		Channel: g.Channel, From: Position(g.From), Epoch: g.Epoch,
	}}})
}

package grpc

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/switchboardhq/switchboard/hub"
	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// FuzzDecodeRequest: whatever bytes a call carries, in either format, the
// request decoder answers a message or a bad request (107), never anything
// else and never a panic (size is bounded before, by grpcerr.Limit).
func FuzzDecodeRequest(f *testing.F) {
	good, _ := proto.Marshal(&switchboardv1.SubscribeRequest{Channels: []*switchboardv1.ChannelRequest{
		{Channel: "chat:a", Since: &switchboardv1.Position{Epoch: "x1", Offset: 41}},
	}})
	f.Add(good, false)
	f.Add([]byte{0x0a, 0x7f, 'x'}, false)
	f.Add([]byte(`{"channels":[{"channel":"chat:a","since":{"epoch":"x1","offset":"41"}}]}`), true)
	f.Add([]byte(`{"channels":[{`), true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, json bool) {
		for _, m := range []proto.Message{new(switchboardv1.SubscribeRequest), new(switchboardv1.PublishRequest), new(switchboardv1.HistoryRequest)} {
			err := decodeRequest(&raw{b: b, json: json}, m)
			if err == nil {
				continue
			}
			if !errors.Is(err, stream.ErrBadRequest) {
				t.Fatalf("decode %q: %v", b, err)
			}
			if c := protocol.ErrorFor(err).Code; c != 107 {
				t.Fatalf("decode %q: code %d", b, c)
			}
		}
	})
}

// TestEncoderFrames: an encoder's output splits back into the messages it
// encoded, one after another as the hub appends presence events, and a
// gap carries both positions.
func TestEncoderFrames(t *testing.T) {
	for _, enc := range []hub.Encoder{protoEncoder, jsonEncoder} {
		info := &stream.ClientInfo{Client: "c1", User: "ann"}
		b := append(enc.Presence("chat:a", true, info), enc.Presence("chat:a", false, info)...)
		b = append(b, enc.Gap(&hub.Gap{Channel: "chat:a", From: stream.Position{Epoch: "e1", Offset: 7}, Epoch: "e2"})...)
		var got []*switchboardv1.SubscribeResponse
		messages(b, func(m []byte) bool {
			r := new(switchboardv1.SubscribeResponse)
			if err := decode(m, enc == jsonEncoder, r); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
			return true
		})
		if len(got) != 3 || got[0].GetJoin().GetClient().GetUser() != "ann" || got[1].GetLeave() == nil ||
			got[2].GetGap().GetFrom().GetOffset() != 7 || got[2].GetGap().GetEpoch() != "e2" {
			t.Fatalf("decoded %v", got)
		}
	}
}

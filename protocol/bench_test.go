package protocol_test

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// benchPublication is a typical chat message: a 100-byte payload from the
// HTTP API.
var benchPublication = &stream.Publication{
	Channel: "chat:lobby",
	Epoch:   "x1b9f",
	Offset:  1234567,
	Data:    raw(`{"user":"alice","text":"` + strings.Repeat("a", 74) + `"}`),
	Time:    1763884800123,
}

func BenchmarkAppendMessage(b *testing.B) {
	if n := len(benchPublication.Data); n != 100 {
		b.Fatalf("payload of %d bytes, want 100", n)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = protocol.AppendMessage(buf[:0], benchPublication)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkAppendPublication encodes into nil, as the hub does for each new
// publication: the one allocation is the frame it hands to every subscriber.
func BenchmarkAppendPublication(b *testing.B) {
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = protocol.AppendPublication(nil, benchPublication)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeCommand(b *testing.B) {
	for _, tt := range []struct{ name, frame string }{
		{"publish", `{"type":"publish","id":3,"channel":"chat:lobby","data":` + string(benchPublication.Data) + `,"key":"k-123"}`},
		{"subscribe", `{"type":"subscribe","id":2,"channel":"chat:lobby","since":{"epoch":"x1","offset":41}}`},
		{"pong", `{"type":"pong"}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			frame := []byte(tt.frame)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := protocol.DecodeCommand(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

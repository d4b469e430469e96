package protocol_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// BenchmarkAppendReplies covers the frames a node writes per command,
// encoded into a reused buffer.
func BenchmarkAppendReplies(b *testing.B) {
	pos := stream.Position{Epoch: "x1b9f", Offset: 1234567}
	for _, tt := range []struct {
		name string
		enc  func([]byte) []byte
	}{
		{"subscribe", func(dst []byte) []byte { return protocol.AppendSubscribeReply(dst, 2, "chat:lobby", pos, true) }},
		{"publish", func(dst []byte) []byte { return protocol.AppendPublishReply(dst, 3, pos) }},
		{"ping", protocol.AppendPing},
	} {
		b.Run(tt.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf = tt.enc(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkDecodeFrame is a Go client's cost to read one message frame.
func BenchmarkDecodeFrame(b *testing.B) {
	frame := protocol.AppendMessage(nil, benchPublication)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := protocol.DecodeFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

package stream_test

import (
	"strconv"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

// The cursor is written once per SSE event (its id) and per poll reply, and
// parsed once per reconnection and per poll: these measure both by the
// number of channels a connection holds.

func cursorOf(n int) *stream.Cursor {
	var c stream.Cursor
	for i := range n {
		c.Set("chat:room"+strconv.Itoa(i), stream.Position{Epoch: "x1b9f", Offset: uint64(100_000 + i)})
	}
	return &c
}

var cursorSizes = []int{1, 16, 128}

// BenchmarkCursorAdvance is an SSE writer's work per event: move one
// channel's position and write the cursor out.
func BenchmarkCursorAdvance(b *testing.B) {
	for _, n := range cursorSizes {
		b.Run("channels="+strconv.Itoa(n), func(b *testing.B) {
			c := cursorOf(n)
			buf := make([]byte, 0, 4096)
			pos := stream.Position{Epoch: "x1b9f", Offset: 200_000}
			b.ReportAllocs()
			for b.Loop() {
				pos.Offset++
				c.Set("chat:room0", pos)
				buf = c.AppendText(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkCursorParse is what a poll or a reconnection pays to read the
// positions back.
func BenchmarkCursorParse(b *testing.B) {
	for _, n := range cursorSizes {
		b.Run("channels="+strconv.Itoa(n), func(b *testing.B) {
			s := cursorOf(n).String()
			b.ReportAllocs()
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				if _, err := stream.ParseCursor(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

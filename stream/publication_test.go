package stream_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

func TestHistoryPageRecoverable(t *testing.T) {
	// History holds offsets 41..50 of epoch x1.
	page := stream.HistoryPage{Latest: stream.Position{Epoch: "x1", Offset: 50}, Earliest: 41}
	tests := []struct {
		since stream.Position
		want  bool
	}{
		{stream.Position{Epoch: "x1", Offset: 50}, true},  // up to date
		{stream.Position{Epoch: "x1", Offset: 45}, true},  // 46..50 to replay
		{stream.Position{Epoch: "x1", Offset: 40}, true},  // 41..50: all still there
		{stream.Position{Epoch: "x1", Offset: 39}, false}, // 40 is gone
		{stream.Position{Epoch: "x1", Offset: 0}, false},
		{stream.Position{Epoch: "x1", Offset: 51}, false}, // ahead of the channel
		{stream.Position{Epoch: "x0", Offset: 45}, false}, // another life of the channel
		{stream.Position{}, false},
	}
	for _, tt := range tests {
		if got := page.Recoverable(tt.since); got != tt.want {
			t.Errorf("Recoverable(%+v) = %v, want %v", tt.since, got, tt.want)
		}
	}

	// A channel whose history is empty: Earliest is Latest.Offset+1.
	empty := stream.HistoryPage{Latest: stream.Position{Epoch: "x1", Offset: 7}, Earliest: 8}
	if !empty.Recoverable(stream.Position{Epoch: "x1", Offset: 7}) {
		t.Error("empty history: the latest position is not recoverable")
	}
	if empty.Recoverable(stream.Position{Epoch: "x1", Offset: 6}) {
		t.Error("empty history: offset 7 is gone but the position before it is recoverable")
	}
	// A new channel: nothing published, everything (nothing) recoverable.
	fresh := stream.HistoryPage{Latest: stream.Position{Epoch: "x1"}, Earliest: 1}
	if !fresh.Recoverable(stream.Position{Epoch: "x1"}) {
		t.Error("new channel: offset 0 of its epoch is not recoverable")
	}
}

func TestPosition(t *testing.T) {
	p := &stream.Publication{Channel: "c", Epoch: "x1", Offset: 42}
	if got := p.Position(); got != (stream.Position{Epoch: "x1", Offset: 42}) {
		t.Errorf("Position() = %+v", got)
	}
	if !(stream.Position{}).IsZero() {
		t.Error("zero Position is not zero")
	}
	for _, p := range []stream.Position{{Epoch: "x"}, {Offset: 1}} {
		if p.IsZero() {
			t.Errorf("%+v is zero", p)
		}
	}
}

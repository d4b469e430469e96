package nats

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/stream"
)

func TestReadEntry(t *testing.T) {
	now := time.UnixMilli(1763884800123)
	e, err := readEntry(7, publicationHeader("ep", 3, 5, 100, 60000, 2), []byte("body"), now)
	if err != nil {
		t.Fatal(err)
	}
	want := entry{seq: 7, prev: 5, epoch: "ep", offset: 3, size: 100, ttl: 60000, floor: 2, ms: now.UnixMilli()}
	if string(e.body) != "body" {
		t.Errorf("body %q", e.body)
	}
	e.body = nil
	if !reflect.DeepEqual(e, want) {
		t.Errorf("readEntry = %+v, want %+v", e, want)
	}
	for _, h := range []natsgo.Header{
		{},
		{hdrEpoch: {"ep"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"x"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"3"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"3"}, hdrPrev: {"1"}, hdrHistory: {"1 2"}},
		{hdrEpoch: {"ep"}, hdrOffset: {"3"}, hdrPrev: {"1"}, hdrHistory: {"1 2 x"}},
	} {
		if _, err := readEntry(1, h, nil, now); err == nil {
			t.Errorf("readEntry(%v) accepted it", h)
		}
	}
}

// TestClassifyUnreadable: a stored message this node cannot read is a
// permanent error, never one worth waiting for, and an error classified
// already keeps its class.
func TestClassifyUnreadable(t *testing.T) {
	_, err := readEntry(1, natsgo.Header{}, nil, time.Now())
	for _, err := range []error{err, fmt.Errorf("%w: offset 3: %w", stream.ErrInternal, err)} {
		got := classify(err)
		if !errors.Is(got, stream.ErrInternal) || errors.Is(got, stream.ErrUnavailable) {
			t.Errorf("classify(%v) = %v, want ErrInternal and not ErrUnavailable", err, got)
		}
	}
}

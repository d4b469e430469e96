package brokertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

func keyed(ch, data, key string) stream.PublishRequest {
	r := Request(ch, data)
	r.Key = key
	return r
}

// testIdempotencyKey: a publisher that retries after a timeout must not
// create a second publication, whatever data the retry carries.
func testIdempotencyKey(t *testing.T, e *env) {
	ch, marker := e.channel("c"), e.channel("marker")
	e.subscribe(t, ch)
	e.subscribe(t, marker)

	first := e.publish(t, keyed(ch, `"first"`, "k-1"))
	if first.Duplicate || first.Offset != 1 {
		t.Fatalf("first keyed publish: %+v, want offset 1, not a duplicate", first)
	}
	for _, data := range []string{`"first"`, `"retry with other data"`} {
		again := e.publish(t, keyed(ch, data, "k-1"))
		if !again.Duplicate || again.Position != first.Position {
			t.Fatalf("repeated key: %+v, want %+v with Duplicate", again, first.Position)
		}
	}
	second := e.publish(t, keyed(ch, `"second"`, "k-2"))
	third := e.publish(t, Request(ch, `"no key"`))
	if second.Offset != 2 || third.Offset != 3 || second.Duplicate || third.Duplicate {
		t.Fatalf("publishes after the duplicates: %+v, %+v; want offsets 2 and 3", second, third)
	}

	page := e.history(t, ch, all)
	checkPage(t, "history", page, stream.Position{Epoch: first.Epoch, Offset: 3}, 1, Span(1, 3))
	if string(page.Publications[0].Data) != `"first"` || page.Publications[0].Key != "k-1" {
		t.Errorf("offset 1 holds %s with key %q, want the first publication", page.Publications[0].Data, page.Publications[0].Key)
	}

	e.publish(t, Request(marker, `"after"`))
	e.waitDelivered(t, marker, 1)
	checkOffsets(t, "delivered", Offsets(e.waitDelivered(t, ch, 3)), Span(1, 3))
}

func testIdempotencyKeyPerChannel(t *testing.T, e *env) {
	a, b := e.channel("a"), e.channel("b")
	e.publishN(t, a, 2, nil)
	ra := e.publish(t, keyed(a, `"a"`, "shared"))
	rb := e.publish(t, keyed(b, `"b"`, "shared"))
	if ra.Duplicate || rb.Duplicate || ra.Offset != 3 || rb.Offset != 1 {
		t.Fatalf("same key on two channels: %+v and %+v; want offsets 3 and 1, neither a duplicate", ra, rb)
	}
	if again := e.publish(t, keyed(b, `"b"`, "shared")); !again.Duplicate || again.Position != rb.Position {
		t.Errorf("repeat on the second channel: %+v, want %+v with Duplicate", again, rb.Position)
	}
}

// testInvalidKey: a key is at most stream.MaxKeyLen bytes of UTF-8, checked
// by the broker whichever way the publication came in. Keys "\xff" and
// "\xfe" are both refused: rewritten to U+FFFD they would be one key, and the
// second publication would be answered as a duplicate and never stored.
func testInvalidKey(t *testing.T, e *env) {
	ch := e.channel("c")
	for _, key := range []string{"\xff", "\xfe", strings.Repeat("k", stream.MaxKeyLen+1), strings.Repeat("k", 60_000)} {
		_, err := e.b.Publish(context.Background(), keyed(ch, `"x"`, key))
		if !errors.Is(err, stream.ErrBadRequest) {
			t.Errorf("key %.20q (%d bytes): %v, want a bad request", key, len(key), err)
		}
	}
	longest := strings.Repeat("é", stream.MaxKeyLen/2)
	first := e.publish(t, keyed(ch, `"x"`, longest))
	if again := e.publish(t, keyed(ch, `"x"`, longest)); first.Offset != 1 || !again.Duplicate || again.Position != first.Position {
		t.Fatalf("a key of %d bytes: %+v then %+v, want offset 1 then a duplicate", len(longest), first, again)
	}
}

// keyTTL is short so the test is quick, and long enough that the immediate
// repeat is certainly inside the window.
const keyTTL = time.Second

func testIdempotencyKeyExpires(t *testing.T, e *env) {
	ch := e.channel("c")
	short := func(data string) stream.PublishRequest {
		r := keyed(ch, data, "k")
		r.KeyTTL = keyTTL
		return r
	}
	first := e.publish(t, short(`"first"`))
	if again := e.publish(t, short(`"again"`)); !again.Duplicate || again.Position != first.Position {
		t.Fatalf("repeat inside the window: %+v, want %+v with Duplicate", again, first.Position)
	}

	// Every attempt until the window passes is a duplicate and stores
	// nothing, so the one that is not must get the next offset.
	var res stream.PublishResult
	testkit.EventuallyWithin(t, keyTTL+waitTimeout, "the key's window to pass", func() bool {
		res = e.publish(t, short(`"anew"`))
		return !res.Duplicate
	})
	if res.Position != (stream.Position{Epoch: first.Epoch, Offset: 2}) {
		t.Fatalf("publish after the window: %+v, want offset 2 in epoch %q", res.Position, first.Epoch)
	}
	if dup := e.publish(t, short(`"dup"`)); !dup.Duplicate || dup.Position != res.Position {
		t.Errorf("the key is not remembered anew: %+v, want %+v with Duplicate", dup, res.Position)
	}
	page := e.history(t, ch, all)
	checkPage(t, "history", page, res.Position, 1, Span(1, 2))
}

var invalidChannels = []string{
	"",
	"has space",
	"tab\t",
	"nul\x00",
	"star*",
	"ünicode",
	"new\nline",
	strings.Repeat("a", stream.MaxChannelLen+1),
}

func testInvalidChannel(t *testing.T, e *env) {
	ctx := t.Context()
	for _, ch := range invalidChannels {
		_, err := e.b.Publish(ctx, Request(ch, `1`))
		checkErr(t, "Publish", ch, err, stream.ErrInvalidChannel)
		_, err = e.b.History(ctx, ch, all)
		checkErr(t, "History", ch, err, stream.ErrInvalidChannel)
		checkErr(t, "Subscribe", ch, e.b.Subscribe(ctx, ch), stream.ErrInvalidChannel)
		checkErr(t, "Unsubscribe", ch, e.b.Unsubscribe(ctx, ch), stream.ErrInvalidChannel)
	}

	// The longest name, using every allowed character, works.
	long := e.channel("_:.@/=+-AZaz09")
	long += strings.Repeat("x", stream.MaxChannelLen-len(long))
	e.subscribe(t, long)
	res := e.publish(t, Request(long, `"long"`))
	if res.Offset != 1 {
		t.Errorf("publish to a %d-byte name: %+v", len(long), res)
	}
	if got := e.waitDelivered(t, long, 1); got[0].Channel != long {
		t.Errorf("delivered channel %q, want %q", got[0].Channel, long)
	}
}

// testCancelledContext: a request whose context has ended is refused with the
// context's error and has no effect.
func testCancelledContext(t *testing.T, e *env) {
	ch := e.channel("c")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := e.b.Publish(ctx, Request(ch, `"cancelled"`))
	checkErr(t, "Publish", ch, err, context.Canceled)
	_, err = e.b.History(ctx, ch, all)
	checkErr(t, "History", ch, err, context.Canceled)
	checkErr(t, "Subscribe", ch, e.b.Subscribe(ctx, ch), context.Canceled)
	checkErr(t, "Unsubscribe", ch, e.b.Unsubscribe(ctx, ch), context.Canceled)

	page := e.history(t, ch, all)
	if page.Latest.Offset != 0 || len(page.Publications) != 0 {
		t.Errorf("a publish with a cancelled context was stored: %+v", page)
	}
}

func checkErr(t *testing.T, op, ch string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s(%.40q): error %v, want one wrapping %q", op, ch, err, want)
	}
}

package testkit_test

import (
	"io"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

func TestSSEReader(t *testing.T) {
	in := "\uFEFFretry: 1500\n\n" +
		": ping\n\n" +
		"event: connected\r\nid: abc\r\ndata: {\"a\":1}\r\n\r\n" +
		"data: one\rdata:two\rdata\r\r" +
		"id\nretry: 1x\ndata: x\n\n" +
		"data: y\nlast: z\nid: a\x00b\n\n" +
		"data: cut off"
	p := testkit.NewSSEReader(strings.NewReader(in))
	var got []testkit.SSEEvent
	for {
		ev, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 6 {
		t.Fatalf("got %d blocks: %+v", len(got), got)
	}
	if got[0].Retry != 1500 || got[0].HasData || got[0].Unknown != nil {
		t.Errorf("retry block %+v", got[0])
	}
	if len(got[1].Comments) != 1 || got[1].Comments[0] != "ping" || got[1].HasData {
		t.Errorf("comment block %+v", got[1])
	}
	if typ, ok := got[1].Dispatched(); ok {
		t.Errorf("a comment dispatches %q", typ)
	}
	if e := got[2]; e.Event != "connected" || e.ID != "abc" || e.Data != `{"a":1}` {
		t.Errorf("named event %+v", e)
	}
	if typ, ok := got[2].Dispatched(); !ok || typ != "connected" {
		t.Errorf("named event dispatches as %q %v", typ, ok)
	}
	if e := got[3]; e.Data != "one\ntwo\n" || e.Event != "" || e.HasID {
		t.Errorf("multi-line data %q", e.Data)
	}
	if typ, ok := got[3].Dispatched(); !ok || typ != "message" {
		t.Errorf("unnamed event dispatches as %q %v", typ, ok)
	}
	if e := got[4]; !e.HasID || e.ID != "" || e.Retry != -1 || e.Data != "x" || len(e.Unknown) != 1 || e.Unknown[0] != "retry: 1x" {
		t.Errorf("empty id, bad retry %+v", e)
	}
	if e := got[5]; e.HasID || e.Data != "y" || len(e.Unknown) != 2 || e.Unknown[0] != "last: z" || e.Unknown[1] != "id: a\x00b" {
		t.Errorf("unknown field, id with NUL %+v", e)
	}
}

func TestSSEStream(t *testing.T) {
	body := "retry: 2000\n\nevent: ping\ndata: {}\n\nevent: connected\ndata: {}\n\n: keep-alive\n\ndata: 1\nid: a\n\nevent: disconnect\ndata: bye\n\n"
	s := testkit.NewSSEStream(t, io.NopCloser(strings.NewReader(body)))
	if ev := s.Block(); ev.Retry != 2000 {
		t.Fatalf("first block %+v", ev)
	}
	if ev := s.Next(); ev.Event != "connected" {
		t.Fatalf("next skipped to %+v, want connected past the ping", ev)
	}
	if ev := s.Next(); ev.Data != "1" || ev.ID != "a" {
		t.Fatalf("next %+v", ev)
	}
	if ev := s.End(); ev.Event != "disconnect" || ev.Data != "bye" {
		t.Fatalf("end after %+v", ev)
	}
}

// TestSSEStreamStrict: a stream that sends what EventSource would ignore, or
// ends where the test wants an event, fails the test.
func TestSSEStreamStrict(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		read func(*testkit.SSEStream)
		want string
	}{
		"unknown field":  {"data: 1\nfoo: bar\n\n", func(s *testkit.SSEStream) { s.Next() }, "EventSource ignores"},
		"unknown at end": {"data: 1\n\nretry: soon\n\n", func(s *testkit.SSEStream) { s.End() }, "EventSource ignores"},
		"ended":          {"data: 1\n\n", func(s *testkit.SSEStream) { s.Next(); s.Next() }, "stream ended"},
	} {
		t.Run(name, func(t *testing.T) {
			r := &recorder{TB: t}
			s := testkit.NewSSEStream(r, io.NopCloser(strings.NewReader(tc.body)))
			r.run(func() { tc.read(s) })
			if !strings.Contains(r.fatal, tc.want) {
				t.Fatalf("failed with %q, want %q", r.fatal, tc.want)
			}
		})
	}
}

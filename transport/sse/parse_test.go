package sse_test

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"testing"
)

// event is one block of an event stream, up to the blank line that ends it,
// read the way the HTML standard's EventSource reads it. Blocks that
// dispatch no event (a retry: alone, comments) are returned too, so tests can
// see them.
type event struct {
	Event    string
	Data     string
	HasData  bool
	ID       string
	HasID    bool
	Retry    int // -1 when the block has no valid retry field
	Comments []string
}

// dispatched reports whether an EventSource would fire this block as an
// event, and under which type: any data line, even an empty one, fires it.
func (e event) dispatched() (string, bool) {
	if !e.HasData {
		return "", false
	}
	if e.Event == "" {
		return "message", true
	}
	return e.Event, true
}

// eventReader parses an event stream: lines end in CRLF, LF or CR; a line
// starting with ':' is a comment; "field: value" loses one space after the
// colon; a line without a colon is a field with an empty value; data lines
// join with "\n".
type eventReader struct {
	r      *bufio.Reader
	skipLF bool // the last line ended in CR: a following LF belongs to it
	first  bool
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{r: bufio.NewReader(r), first: true}
}

func (p *eventReader) line() (string, error) {
	var b []byte
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return "", err
		}
		if p.skipLF {
			p.skipLF = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\n':
			return string(b), nil
		case '\r':
			p.skipLF = true
			return string(b), nil
		}
		b = append(b, c)
	}
}

// next returns the next non-empty block. A block cut off by the end of the
// stream is dropped, as EventSource drops it, and next returns the error.
func (p *eventReader) next() (event, error) {
	ev := event{Retry: -1}
	var data []string
	empty := true
	for {
		l, err := p.line()
		if err != nil {
			return event{}, err
		}
		if p.first {
			l = strings.TrimPrefix(l, "\uFEFF")
			p.first = false
		}
		if l == "" {
			if empty {
				continue
			}
			if ev.HasData {
				ev.Data = strings.Join(data, "\n")
			}
			return ev, nil
		}
		empty = false
		if c, ok := strings.CutPrefix(l, ":"); ok {
			ev.Comments = append(ev.Comments, strings.TrimPrefix(c, " "))
			continue
		}
		field, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event = value
		case "data":
			ev.HasData = true
			data = append(data, value)
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID, ev.HasID = value, true
			}
		case "retry":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 && strings.Trim(value, "0123456789") == "" {
				ev.Retry = n
			}
		}
	}
}

func TestEventReader(t *testing.T) {
	in := "\uFEFFretry: 1500\n\n" +
		": ping\n\n" +
		"event: connected\r\nid: abc\r\ndata: {\"a\":1}\r\n\r\n" +
		"data: one\rdata:two\rdata\r\r" +
		"id\nretry: 1x\ndata: x\n\n" +
		"data: cut off"
	p := newEventReader(strings.NewReader(in))
	var got []event
	for {
		ev, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 5 {
		t.Fatalf("got %d blocks: %+v", len(got), got)
	}
	if got[0].Retry != 1500 || got[0].HasData {
		t.Errorf("retry block %+v", got[0])
	}
	if len(got[1].Comments) != 1 || got[1].Comments[0] != "ping" || got[1].HasData {
		t.Errorf("comment block %+v", got[1])
	}
	if e := got[2]; e.Event != "connected" || e.ID != "abc" || e.Data != `{"a":1}` {
		t.Errorf("named event %+v", e)
	}
	if e := got[3]; e.Data != "one\ntwo\n" || e.Event != "" || e.HasID {
		t.Errorf("multi-line data %q", e.Data)
	}
	if e := got[4]; !e.HasID || e.ID != "" || e.Retry != -1 || e.Data != "x" {
		t.Errorf("empty id, bad retry %+v", e)
	}
}

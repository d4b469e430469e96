package testkit

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// SSEEvent is one block of an event stream, up to the blank line that ends
// it, read the way the HTML standard's EventSource reads it. Blocks that
// dispatch no event (a retry alone, comments) are returned too, and so is
// everything EventSource would ignore, so a test can insist the server sent
// nothing it should not have.
type SSEEvent struct {
	Event    string
	Data     string // the data lines joined with "\n"
	HasData  bool   // the block had a data line, even an empty one
	ID       string
	HasID    bool
	Retry    int // -1 when the block has no valid retry field
	Comments []string
	// Unknown holds the field lines EventSource ignores: a field other
	// than event, data, id and retry, an id holding NUL, a retry that is
	// not a number. A server that speaks the protocol sends none.
	Unknown []string
}

// Dispatched reports whether an EventSource would fire this block as an
// event, and under which type: any data line, even an empty one, fires it.
func (e SSEEvent) Dispatched() (string, bool) {
	if !e.HasData {
		return "", false
	}
	if e.Event == "" {
		return "message", true
	}
	return e.Event, true
}

// SSEReader parses an event stream: lines end in CRLF, LF or CR; a leading
// byte order mark is dropped; a line starting with ':' is a comment;
// "field: value" loses one space after the colon; a line without a colon is
// a field with an empty value; data lines join with "\n".
type SSEReader struct {
	r      *bufio.Reader
	skipLF bool // the last line ended in CR: a following LF belongs to it
	first  bool
}

// NewSSEReader returns a reader of the event stream r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReader(r), first: true}
}

func (p *SSEReader) line() (string, error) {
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

// Next returns the next non-empty block. A block cut off by the end of the
// stream is dropped, as EventSource drops it, and Next returns the error
// (io.EOF at a clean end).
func (p *SSEReader) Next() (SSEEvent, error) {
	ev := SSEEvent{Retry: -1}
	var data []string
	empty := true
	for {
		l, err := p.line()
		if err != nil {
			return SSEEvent{}, err
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
			if strings.ContainsRune(value, 0) {
				ev.Unknown = append(ev.Unknown, l)
				continue
			}
			ev.ID, ev.HasID = value, true
		case "retry":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 && strings.Trim(value, "0123456789") == "" {
				ev.Retry = n
				continue
			}
			ev.Unknown = append(ev.Unknown, l)
		default:
			ev.Unknown = append(ev.Unknown, l)
		}
	}
}

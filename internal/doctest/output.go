package doctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DropHeaders removes from an HTTP response, as curl -i prints it, the
// header lines with the given names (case-insensitive): those that change
// from run to run, such as Date, which a doc may leave out of what it
// shows. Every other line stays, so a header the doc does not show, or one
// the node stopped sending, still fails the comparison.
func DropHeaders(out string, names []string) string {
	if len(names) == 0 {
		return out
	}
	lines := strings.SplitAfter(out, "\n")
	keep := lines[:0]
	for _, l := range lines {
		name, _, ok := strings.Cut(l, ":")
		drop := false
		if ok && !strings.ContainsAny(name, " \t") {
			for _, n := range names {
				if strings.EqualFold(name, n) {
					drop = true
					break
				}
			}
		}
		if !drop {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// LastLines returns the last n lines of out (after trailing blank lines):
// what a doc shows of a block whose output begins with something it leaves
// out, such as the banner of a node the block started.
func LastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r\n", "\n"), "\n \t"), "\n")
	if n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Lines counts the lines of a doc's output block, as [Match] compares them.
func Lines(want string) int {
	return strings.Count(normalise(want), "\n") + 1
}

// Unwrap joins the lines a doc wraps for reading back into the one line a
// command prints: a line that is indented, or that starts with "]" or "}",
// continues the line before it, without the indent.
func Unwrap(want string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(want, "\n"), "\n") {
		t := strings.TrimSpace(l)
		if len(out) > 0 && (t != l && t != "" || strings.HasPrefix(t, "]") || strings.HasPrefix(t, "}")) {
			out[len(out)-1] += t
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// JSON returns the one JSON value a doc shows laid out for reading (one
// field a line) as the one compact line a node prints, with the values of
// the fields named in anyOf shown as "…": values that differ from machine
// to machine and run to run (a version, a start time, an uptime, counters),
// which [Match] then accepts whatever they are. Every field name, and every
// other value, is still compared. Text that is not one JSON value is an
// error: the doc's block is meant as JSON.
func JSON(doc string, anyOf []string) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(doc)); err != nil {
		return "", fmt.Errorf("doctest: the doc's JSON: %v", err)
	}
	s := buf.String()
	for _, key := range anyOf {
		field := `"` + key + `":`
		i := strings.Index(s, field)
		if i < 0 {
			return "", fmt.Errorf("doctest: the doc's JSON has no field %q", key)
		}
		start := i + len(field)
		dec := json.NewDecoder(strings.NewReader(s[start:]))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", fmt.Errorf("doctest: the doc's JSON field %q: %v", key, err)
		}
		s = s[:start] + "…" + s[start+int(dec.InputOffset()):]
	}
	return s + "\n", nil
}

// CompactJSON returns out as one compact line when it is one JSON value,
// and unchanged otherwise (so that what is not JSON fails the comparison
// showing what was printed).
func CompactJSON(out string) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(out)); err != nil {
		return out
	}
	return buf.String() + "\n"
}

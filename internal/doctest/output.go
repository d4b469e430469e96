package doctest

import (
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

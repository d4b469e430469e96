package doctest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Bindings maps a volatile value a doc shows (an epoch, a client id, a
// cursor, an API key) to the value the node printed in its place. The
// first comparison that meets a doc value binds it; every later one must
// meet the same actual value, and the runner puts the actual value in
// place of the doc's in the commands that follow, so that a doc may reuse
// what it showed before ("use the epoch your node printed").
type Bindings map[string]string

// Apply replaces every bound doc value in text with its actual value,
// longest first, so that a value that contains another is replaced whole.
func (b Bindings) Apply(text string) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, b[k])
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// volatileRE finds what varies from run to run in a doc's output: the
// values of "epoch", "client" and "cursor" (bound), the number of "time"
// (any), an SSE id (bound), an SSE retry (any), the API key a node prints
// (bound), and an ellipsis that stands for whatever a doc leaves out. The
// fields are found compact (a node's JSON) and as grpcurl prints protobuf
// JSON: a space after the colon, a 64-bit time as a string ("time":
// "1796668135891").
var volatileRE = regexp.MustCompile(`"(?:epoch|client|cursor)": ?"([^"]+)"|"time": ?"?(\d+)|(?m:^id: (\S+)$)|(?m:^retry: (\d+)$)|api key:\s+(\S+)|[ \t]*(?:\.\.\.|…)[ \t]*`)

// Match compares what a command printed with what the doc shows. Every
// character the doc shows must be printed, and nothing else, except for
// the volatile values above; the doc's values are bound to the printed ones
// in b. Line ends and trailing blanks are normalised on both sides. With
// prefix, the output may go on after the doc's text ends (a stream that
// is still open), from the start of a line.
//
// Keep-alive pings (a WebSocket {"type":"ping"} line, an SSE ping event, a
// gRPC stream's {"ping": {}} as grpcurl prints it) are compared by number,
// not place: the first comes at any moment within
// ping_interval, so the output must hold at least as many as the doc shows,
// wherever they fall.
func Match(want, got string, b Bindings, prefix bool) error {
	want, got = normalise(want), normalise(got)
	want, wantPings := dropPings(want)
	got, gotPings := dropPings(got)
	if gotPings < wantPings {
		return fmt.Errorf("the doc shows %d ping(s), the output has %d\n--- printed:\n%s", wantPings, gotPings, got)
	}
	rx, groups, err := pattern(want, b, prefix)
	if err != nil {
		return err
	}
	m := rx.FindStringSubmatch(got)
	if m == nil {
		return fmt.Errorf("output differs from the doc\n--- doc shows:\n%s\n--- printed:\n%s\n--- first difference: %s", want, got, firstDiff(want, got, b))
	}
	bound := map[string]string{}
	for i, doc := range groups {
		actual := m[i+1]
		if prev, ok := bound[doc]; ok && prev != actual {
			return fmt.Errorf("the doc shows %q twice where the output has %q and %q\n--- printed:\n%s", doc, prev, actual, got)
		}
		bound[doc] = actual
	}
	for doc, actual := range bound {
		b[doc] = actual
	}
	return nil
}

// pattern turns the doc's text into a regular expression, and lists the
// doc values its groups bind, in order.
func pattern(want string, b Bindings, prefix bool) (*regexp.Regexp, []string, error) {
	var re strings.Builder
	re.WriteString(`^`)
	var groups []string
	last := 0
	for _, m := range volatileRE.FindAllStringSubmatchIndex(want, -1) {
		re.WriteString(regexp.QuoteMeta(want[last:m[0]]))
		last = m[1]
		switch {
		case m[2] >= 0, m[6] >= 0, m[10] >= 0: // a bound value
			vs, ve := m[2], m[3]
			class := `[^"]+`
			if m[6] >= 0 {
				vs, ve, class = m[6], m[7], `\S+`
			} else if m[10] >= 0 {
				vs, ve, class = m[10], m[11], `\S+`
			}
			re.WriteString(regexp.QuoteMeta(want[m[0]:vs]))
			doc := want[vs:ve]
			switch actual, ok := b[doc]; {
			case strings.Contains(doc, "...") || strings.Contains(doc, "…"):
				re.WriteString(class)
			case ok:
				re.WriteString(regexp.QuoteMeta(actual))
			default:
				re.WriteString(`(` + class + `)`)
				groups = append(groups, doc)
			}
			re.WriteString(regexp.QuoteMeta(want[ve:m[1]]))
		case m[4] >= 0:
			re.WriteString(regexp.QuoteMeta(want[m[0]:m[4]]) + `\d+`)
		case m[8] >= 0:
			re.WriteString(regexp.QuoteMeta(want[m[0]:m[8]]) + `\d+`)
		default: // an ellipsis: anything on the line, with the blanks around it
			re.WriteString(`[^\n]*?`)
		}
	}
	re.WriteString(regexp.QuoteMeta(want[last:]))
	if prefix {
		re.WriteString(`(?:\n[\s\S]*)?`)
	}
	re.WriteString(`$`)
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, nil, fmt.Errorf("doctest: expected output makes a bad pattern: %v", err)
	}
	return rx, groups, nil
}

func normalise(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// firstDiff names the first line of want that does not match its line of
// got on its own, to point a reader at the difference.
func firstDiff(want, got string, b Bindings) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range w {
		if i >= len(g) {
			return fmt.Sprintf("doc line %d %q: nothing printed", i+1, w[i])
		}
		if rx, _, err := pattern(w[i], b, false); err != nil || !rx.MatchString(g[i]) {
			return fmt.Sprintf("doc line %d\n  doc:     %s\n  printed: %s", i+1, w[i], g[i])
		}
	}
	if len(g) > len(w) {
		return fmt.Sprintf("printed line %d %q is not in the doc", len(w)+1, g[len(w)])
	}
	return "(each line matches alone; a value differs from one bound before)"
}

// The keep-alives a node sends, as a WebSocket frame, as an SSE event, and
// the inner line of a gRPC stream's ping as grpcurl prints it (between a
// "{" line and a "}" line).
const (
	wsPing      = `{"type":"ping"}`
	ssePing     = "event: ping\ndata: {}"
	grpcurlPing = `  "ping": {}`
)

// dropPings removes the pings from normalised output and counts them.
func dropPings(s string) (string, int) {
	n := 0
	events := strings.Split(s, "\n\n")
	keep := events[:0]
	for _, e := range events {
		if e == ssePing {
			n++
			continue
		}
		keep = append(keep, e)
	}
	lines := strings.Split(strings.Join(keep, "\n\n"), "\n")
	kept := lines[:0]
	for i := 0; i < len(lines); i++ {
		if lines[i] == wsPing {
			n++
			continue
		}
		if i+2 < len(lines) && lines[i] == "{" && lines[i+1] == grpcurlPing && lines[i+2] == "}" {
			n++
			i += 2
			continue
		}
		kept = append(kept, lines[i])
	}
	return strings.Trim(strings.Join(kept, "\n"), "\n"), n
}

package doctest

import (
	"fmt"
	"regexp"
	"strings"
)

// Step is one fenced block or one stand-alone directive of a doc.
type Step struct {
	Line int // 1-based line of the fence or the comment

	// Directive is the verb of the directive ("run", "skip", "node", ...);
	// empty for a fence nothing marks.
	Directive string
	Attrs     map[string]string
	Body      string // the directive's lines after the first

	// A fenced block: Fence is true, Lang its info string's first word.
	Fence bool
	Lang  string
	Text  string
}

// Runnable reports whether a fence looks like something a reader is told
// to run, and so must be run or skipped with a reason.
func (s Step) Runnable() bool {
	if !s.Fence {
		return false
	}
	switch s.Lang {
	case "sh", "bash", "shell", "console", "js", "javascript", "mjs", "ts", "typescript", "go":
		return true
	}
	return strings.HasPrefix(s.Text, "$ ")
}

var (
	fenceRE = regexp.MustCompile("^( *)(```+)\\s*([^\\s`]*)")
	attrRE  = regexp.MustCompile(`([A-Za-z_-]+)(?:=("[^"]*"|'[^']*'|\S+))?`)
)

// fenceVerbs are the directives that apply to the fence that follows them.
var fenceVerbs = map[string]bool{
	"run": true, "output": true, "file": true, "serve": true,
	"transcript": true, "websocket": true, "skip": true, "flags": true, "browser": true,
}

// standVerbs are the directives that stand alone.
var standVerbs = map[string]bool{
	"node": true, "stop": true, "sh": true, "wait": true, "check": true, "kill": true,
	"redis": true, "nats": true,
}

// Parse splits a Markdown doc into steps. A fence directive is merged into
// the fence it precedes (only blank lines may be between them); Parse
// fails on an unknown verb, a fence directive with no fence after it, an
// unclosed fence or comment, and a runnable fence without a directive.
func Parse(doc string) ([]Step, error) {
	lines := strings.Split(strings.ReplaceAll(doc, "\r\n", "\n"), "\n")
	var steps []Step
	var pending *Step
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "<!-- doctest:"):
			start := i
			text := strings.TrimPrefix(trimmed, "<!-- doctest:")
			for !strings.Contains(text, "-->") {
				i++
				if i == len(lines) {
					return nil, fmt.Errorf("line %d: doctest comment never closed", start+1)
				}
				text += "\n" + lines[i]
			}
			text = strings.TrimSpace(text[:strings.LastIndex(text, "-->")])
			d, err := directive(start+1, text)
			if err != nil {
				return nil, err
			}
			if pending != nil {
				return nil, fmt.Errorf("line %d: directive %q is followed by another directive, not a fence", pending.Line, pending.Directive)
			}
			if fenceVerbs[d.Directive] {
				pending = &d
			} else {
				steps = append(steps, d)
			}
		case fenceRE.MatchString(line):
			m := fenceRE.FindStringSubmatch(line)
			indent, ticks := len(m[1]), m[2]
			start := i
			var body []string
			for i++; ; i++ {
				if i == len(lines) {
					return nil, fmt.Errorf("line %d: fence never closed", start+1)
				}
				if t := strings.TrimSpace(lines[i]); strings.HasPrefix(t, ticks) && strings.Trim(t, "`") == "" {
					break
				}
				l := lines[i]
				if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
					l = l[indent:]
				}
				body = append(body, l)
			}
			s := Step{Line: start + 1, Fence: true, Lang: m[3], Text: strings.Join(body, "\n") + "\n"}
			if pending != nil {
				s.Directive, s.Attrs, s.Body = pending.Directive, pending.Attrs, pending.Body
				pending = nil
			}
			if s.Directive == "" && s.Runnable() {
				return nil, fmt.Errorf("line %d: a runnable %s block without a doctest directive: run it or skip it with a reason", s.Line, langName(s))
			}
			if s.Directive == "skip" && s.Attrs["reason"] == "" {
				return nil, fmt.Errorf("line %d: skip without a reason", s.Line)
			}
			steps = append(steps, s)
		case pending != nil && trimmed != "":
			return nil, fmt.Errorf("line %d: directive %q is not followed by a fence", pending.Line, pending.Directive)
		}
	}
	if pending != nil {
		return nil, fmt.Errorf("line %d: directive %q is not followed by a fence", pending.Line, pending.Directive)
	}
	return steps, nil
}

func langName(s Step) string {
	if s.Lang == "" {
		return "transcript"
	}
	return s.Lang
}

// directive parses "verb k=v k2="v 2"\nbody".
func directive(line int, text string) (Step, error) {
	first, body, _ := strings.Cut(text, "\n")
	fields := attrRE.FindAllStringSubmatch(first, -1)
	if len(fields) == 0 {
		return Step{}, fmt.Errorf("line %d: empty doctest directive", line)
	}
	s := Step{Line: line, Directive: fields[0][1], Attrs: map[string]string{}, Body: body}
	if !fenceVerbs[s.Directive] && !standVerbs[s.Directive] {
		return Step{}, fmt.Errorf("line %d: unknown doctest directive %q", line, s.Directive)
	}
	if s.Directive == "node" {
		// The rest of the line is the serve command's flags.
		s.Attrs["args"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(first), "node"))
		return s, nil
	}
	for _, f := range fields[1:] {
		v := f[2]
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		s.Attrs[f[1]] = v
	}
	return s, nil
}

// CommentOutput returns the output a shell block shows in its comments: a
// comment line whose text starts with "{" or "[" is one line of output, and
// a comment line indented by three spaces or more continues the line
// before it (a long JSON answer wrapped for reading).
func CommentOutput(script string) string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "# ") {
			continue
		}
		c := t[2:]
		switch {
		case strings.HasPrefix(c, "{") || strings.HasPrefix(c, "["):
			out = append(out, c)
		case strings.HasPrefix(c, "  ") && len(out) > 0:
			out[len(out)-1] += strings.TrimSpace(c)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

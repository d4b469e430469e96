package e2e_test

import (
	"os/exec"
	"regexp"
	"strings"

	"github.com/switchboardhq/switchboard/internal/doctest"
)

// switchboardRE finds a switchboard command in a line of shell: the binary
// as a doc names it (bin/switchboard, ./switchboard, switchboard, go run
// ./cmd/switchboard), with what precedes it on the line (GOMAXPROCS=1
// taskset -c 0) left out.
var switchboardRE = regexp.MustCompile(`(?:^|\s)(?:go run \./cmd/switchboard|(?:\S*/)?switchboard)\s+(.*)$`)

// flags checks the switchboard command lines of a block that is too long
// to run (a bench of ten thousand connections for minutes) against the
// CLI: each runs with --help added, which makes cobra parse every flag
// (a flag renamed or removed, or a value of the wrong type, fails) and
// print the usage of the command the words name, which must be that
// command (a subcommand misspelled shows its parent's). The other lines
// (curl, go build) are not run.
func (r *docRun) flags(s doctest.Step) {
	r.t.Helper()
	text := strings.ReplaceAll(s.Text, "\\\n", " ")
	n := 0
	for _, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "go ") && !strings.HasPrefix(line, "go run ") {
			continue // go build -o bin/switchboard ./cmd/switchboard
		}
		m := switchboardRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var args, words []string
		for _, a := range strings.Fields(m[1]) {
			if a == "&" || strings.HasPrefix(a, ">") || a == "|" {
				break
			}
			a = strings.Trim(a, `'"`)
			if strings.HasPrefix(a, "$") {
				a = "1" // a shell variable: a pid ($!, $NODE)
			}
			if len(args) == len(words) && !strings.HasPrefix(a, "-") {
				words = append(words, a)
			}
			args = append(args, a)
		}
		out, err := exec.Command(binary, append(args, "--help")...).CombinedOutput()
		if err != nil {
			r.fatalf(s, "switchboard %s: the CLI refuses its flags: %v\n%s", strings.Join(args, " "), err, out)
		}
		usage := "Usage:\n  " + strings.Join(append([]string{"switchboard"}, words...), " ") + " [flags]"
		if !strings.Contains(string(out), usage) {
			r.fatalf(s, "switchboard %s: the CLI has no command %q:\n%s", strings.Join(args, " "), strings.Join(words, " "), out)
		}
		n++
	}
	if n == 0 {
		r.fatalf(s, "a flags block with no switchboard command")
	}
	r.parsed++
}

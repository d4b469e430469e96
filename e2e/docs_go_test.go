package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/switchboardhq/switchboard/internal/doctest"
)

// goProgram returns the command that runs a doc's Go program as a reader
// would: `go run .` in a module of its own that requires Switchboard,
// here this repository's tree (a replace), resolved from the module cache
// alone (no network in a test), with the repository's go.sum.
func (r *docRun) goProgram(s doctest.Step) []string {
	r.t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		r.t.Fatal(err)
	}
	dir := filepath.Join(r.dir, fmt.Sprintf("go-%d", s.Line))
	if err := os.Mkdir(dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		r.t.Fatal(err)
	}
	mod := fmt.Sprintf("module example.com/docexample\n\ngo 1.26.0\n\nrequire github.com/switchboardhq/switchboard v0.0.0\n\nreplace github.com/switchboardhq/switchboard => %s\n", root)
	for name, text := range map[string]string{"go.mod": mod, "go.sum": string(sum), "main.go": r.subst(s.Text)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	return []string{"bash", "-c", fmt.Sprintf("cd %q && GOFLAGS=-mod=mod GOPROXY=off exec go run .", dir)}
}

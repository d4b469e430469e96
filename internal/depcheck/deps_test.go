package depcheck_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/switchboardhq/switchboard"

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
	Error        *struct{ Err string }
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			// Without its imports a package would pass every rule.
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// rules: a package (by path under the module, "..." for a subtree) and the
// imports it must never have, directly or through others. A forbidden import
// is a path ("net/http"), a path ending in "/" for everything below it, a
// path ending in "/..." for it and everything below it, or "third-party":
// any module outside the standard library and this one.
//
// The rules hold for the packages as built, not for their tests: a broker's
// tests may use the hub (STYLE.md, "never imports hub outside tests").
// One line per package, so that a new package is a new line.
var rules = []struct {
	pkg       string
	forbidden []string
}{
	{"stream", []string{"third-party", module + "/"}},
	{"hub", []string{"net/http", "third-party", module + "/protocol", module + "/transport/...", module + "/broker/", module + "/auth"}},
	{"protocol", []string{"net/http", module + "/hub"}},
	{"auth", []string{module + "/hub", module + "/transport/..."}},
	{"broker/memory", []string{module + "/hub"}},
	{"broker/redis", []string{module + "/hub"}},
	{"broker/nats", []string{module + "/hub"}},
	{"broker/internal/...", []string{"third-party", module + "/hub"}},
	{"internal/backoff", []string{"third-party", module + "/"}},
	{"internal/netpoll", []string{module + "/"}},
	{"internal/selfsigned", []string{"third-party", module + "/"}},
	// The gRPC error mapping sits below every service that uses it.
	{"internal/grpcerr", []string{module + "/hub", module + "/transport/...", module + "/server", module + "/broker/"}},
	{"transport/ws", []string{module + "/transport/sse", module + "/transport/poll", module + "/transport/command"}},
	{"transport/sse", []string{module + "/transport/ws", module + "/transport/poll", module + "/transport/command"}},
	{"transport/poll", []string{module + "/transport/ws", module + "/transport/sse", module + "/transport/command"}},
	{"transport/command", []string{module + "/transport/ws", module + "/transport/sse", module + "/transport/poll"}},
	{"server", []string{module + "/broker/"}},
	{"client", []string{module + "/hub", module + "/server"}},
	{"bench", []string{module + "/hub", module + "/server"}},
	// The test kit stays importable by the tests of every package.
	{"internal/testkit", []string{"third-party", module + "/hub", module + "/protocol", module + "/transport", module + "/transport/", module + "/broker/", module + "/auth"}},
}

// libraries confines each third-party client library to the package that
// adapts it (by path under the module, "..." for a subtree). The rule is on
// direct imports, test files included: a test elsewhere that wants Redis or
// NATS goes through the adapter, or through internal/testenv's processes,
// so that a library's API is learned, and upgraded, in one place.
// A library is a module path and covers its packages.
// One line per library, so that a new library is a new line.
var libraries = []struct {
	lib     string
	allowed []string
}{
	{"github.com/redis/rueidis", []string{"broker/redis"}},
	// internal/testenv also checks the NATS clusters it starts with a client
	// of its own, so that a test of the broker never rests on the broker.
	{"github.com/nats-io/nats.go", []string{"broker/nats", "internal/testenv"}},
	// The embedded NATS server the tests run.
	{"github.com/nats-io/nats-server/v2", []string{"internal/testenv"}},
	{"github.com/gobwas", []string{"transport/ws"}},
	// Metrics are package server's.
	{"github.com/prometheus", []string{"server"}},
	// Flags, environment and config files become a config struct in
	// cmd/switchboard only.
	{"github.com/knadh/koanf", []string{"cmd/switchboard"}},
	{"github.com/spf13/cobra", []string{"cmd/switchboard"}},
	{"github.com/spf13/pflag", []string{"cmd/switchboard"}},
}

// matches reports whether the package path is the one a rule names, or in
// its subtree for a rule ending in "/...".
func matches(rule, path string) bool {
	rel := strings.TrimPrefix(path, module+"/")
	if sub, ok := strings.CutSuffix(rule, "/..."); ok {
		return rel == sub || strings.HasPrefix(rel, sub+"/")
	}
	return rel == rule
}

// forbids reports whether the forbidden import f covers dep.
func forbids(f, dep string) bool {
	switch {
	case f == "third-party":
		return !isStd(dep) && dep != module && !strings.HasPrefix(dep, module+"/")
	case strings.HasSuffix(f, "/..."):
		base := strings.TrimSuffix(f, "/...")
		return dep == base || strings.HasPrefix(dep, base+"/")
	case strings.HasSuffix(f, "/"):
		return strings.HasPrefix(dep, f)
	default:
		return dep == f
	}
}

// checkNamed fails for a rule naming no package: after a rename it would
// pass forever.
func checkNamed(t *testing.T, pkgs []pkg, pattern string) {
	t.Helper()
	if !slices.ContainsFunc(pkgs, func(p pkg) bool { return matches(pattern, p.ImportPath) }) {
		t.Errorf("the rules name %q, which matches no package", pattern)
	}
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		checkNamed(t, pkgs, r.pkg)
	}
	for _, p := range pkgs {
		for _, r := range rules {
			if !matches(r.pkg, p.ImportPath) {
				continue
			}
			for _, dep := range p.Deps {
				for _, f := range r.forbidden {
					if forbids(f, dep) {
						t.Errorf("%s depends on %s (forbidden: %s)", p.ImportPath, dep, f)
					}
				}
			}
		}
	}
}

func TestLibrariesConfined(t *testing.T) {
	pkgs := listPackages(t)
	for _, l := range libraries {
		for _, a := range l.allowed {
			checkNamed(t, pkgs, a)
		}
	}
	for _, p := range pkgs {
		imports := slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		slices.Sort(imports)
		for _, imp := range slices.Compact(imports) {
			for _, l := range libraries {
				if imp != l.lib && !strings.HasPrefix(imp, l.lib+"/") {
					continue
				}
				if !slices.ContainsFunc(l.allowed, func(a string) bool { return matches(a, p.ImportPath) }) {
					t.Errorf("%s imports %s; only %s may", p.ImportPath, imp, strings.Join(l.allowed, ", "))
				}
			}
		}
	}
}

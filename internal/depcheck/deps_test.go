package depcheck_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/switchboardhq/switchboard"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
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
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// rules: a package (by path under the module, "..." for a subtree) and the
// imports it must never have, directly or through others. "third-party"
// means any module outside the standard library and this one.
var rules = []struct {
	pkg       string
	forbidden []string
}{
	{"stream", []string{"third-party", module + "/"}},
	{"hub", []string{"net/http", "third-party", module + "/protocol", module + "/transport/", module + "/broker/", module + "/auth"}},
	{"protocol", []string{"net/http", module + "/hub"}},
	{"auth", []string{module + "/hub", module + "/transport/"}},
	{"broker/memory", []string{module + "/hub"}},
	{"broker/redis", []string{module + "/hub"}},
	{"broker/nats", []string{module + "/hub"}},
	{"broker/internal/...", []string{"third-party", module + "/hub"}},
	{"internal/backoff", []string{"third-party", module + "/"}},
	{"transport/ws", []string{module + "/transport/sse", module + "/transport/poll"}},
	{"transport/sse", []string{module + "/transport/ws", module + "/transport/poll"}},
	{"transport/poll", []string{module + "/transport/ws", module + "/transport/sse"}},
	{"server", []string{module + "/broker/"}},
	{"client", []string{module + "/hub", module + "/server"}},
	{"bench", []string{module + "/hub", module + "/server"}},
}

func matches(rule, path string) bool {
	rel := strings.TrimPrefix(path, module+"/")
	if sub, ok := strings.CutSuffix(rule, "/..."); ok {
		return rel == sub || strings.HasPrefix(rel, sub+"/")
	}
	return rel == rule
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		for _, r := range rules {
			if !matches(r.pkg, p.ImportPath) {
				continue
			}
			for _, dep := range p.Deps {
				for _, f := range r.forbidden {
					bad := false
					switch {
					case f == "third-party":
						bad = !isStd(dep) && !strings.HasPrefix(dep, module)
					case strings.HasSuffix(f, "/"):
						bad = strings.HasPrefix(dep, f)
					default:
						bad = dep == f
					}
					if bad {
						t.Errorf("%s depends on %s (forbidden: %s)", p.ImportPath, dep, f)
					}
				}
			}
		}
	}
}

// TestWebSocketLibraryConfined checks that only transport/ws imports the
// WebSocket library.
func TestWebSocketLibraryConfined(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/gobwas/") && p.ImportPath != module+"/transport/ws" {
				t.Errorf("%s imports %s; only transport/ws may", p.ImportPath, imp)
			}
		}
	}
}

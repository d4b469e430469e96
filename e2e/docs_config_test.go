package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// configRowRE is a row of a settings table of docs/config.md: the key, its
// environment variable and its flag.
var configRowRE = regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\| `(SWITCHBOARD_[A-Z_]+)` \\| `(--[a-z.-]+)` \\|")

// TestDocsConfigKeys checks that every setting the tables of
// docs/config.md name is one a node knows, under each of its three names:
// a config file that sets every documented key (and every field of a
// named namespace, those of default_namespace) and an environment that
// sets every documented variable draw no "unknown" from the node, and
// serve --help lists every documented flag. (cmd/switchboard's
// TestDocsComplete checks the other way: every setting is documented.)
// Values are nonsense on purpose: a node reports every mistake of a run at
// once, unknown keys among wrongly typed values, so one run names every
// documented key it does not know.
func TestDocsConfigKeys(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := configRowRE.FindAllStringSubmatch(string(doc), -1)
	if len(rows) < 40 {
		t.Fatalf("found %d settings rows in docs/config.md; has the table's layout changed?", len(rows))
	}
	tree := map[string]any{}
	var env []string
	var flags []string
	var nsFields []string
	for _, row := range rows {
		key, envName, flag := row[1], row[2], row[3]
		if want := "SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "__")); envName != want {
			t.Errorf("docs/config.md: %s: env %s, by the naming rule %s", key, envName, want)
		}
		if want := "--" + strings.ReplaceAll(key, "_", "-"); flag != want {
			t.Errorf("docs/config.md: %s: flag %s, by the naming rule %s", key, flag, want)
		}
		setKey(tree, strings.Split(key, "."))
		env = append(env, envName+"=x")
		flags = append(flags, flag)
		if f, ok := strings.CutPrefix(key, "default_namespace."); ok {
			nsFields = append(nsFields, f)
		}
	}
	// A key no node knows, so that the run shows it reports unknown keys.
	const control = "no_such_documented_key"
	tree[control] = nil
	var yaml strings.Builder
	writeYAML(&yaml, tree, "")
	yaml.WriteString("namespaces:\n  - name: doc\n")
	for _, f := range nsFields {
		yaml.WriteString("    " + f + ": x\n")
	}
	file := filepath.Join(t.TempDir(), "every-key.yaml")
	if err := os.WriteFile(file, []byte(yaml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--config", file, "--addr", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the node took a file of nonsense values:\n%s", out)
	}
	if !strings.Contains(string(out), `unknown key "`+control+`"`) {
		t.Fatalf("the node did not report the key no node knows, so this run shows nothing:\n%s\n--- file:\n%s", out, yaml.String())
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "unknown") && !strings.Contains(l, control) {
			t.Errorf("docs/config.md documents a setting the node does not know: %s", l)
		}
	}
	help, err := exec.Command(binary, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("serve --help: %v\n%s", err, help)
	}
	for _, f := range flags {
		if !regexp.MustCompile(regexp.QuoteMeta(f) + `\b`).Match(help) {
			t.Errorf("docs/config.md documents %s, which serve --help does not list", f)
		}
	}
	t.Logf("%d documented settings (and %d namespace fields) known to the node under all three names", len(rows), len(nsFields))
}

// setKey adds the nested key path to tree.
func setKey(tree map[string]any, path []string) {
	for _, p := range path[:len(path)-1] {
		sub, ok := tree[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			tree[p] = sub
		}
		tree = sub
	}
	tree[path[len(path)-1]] = nil
}

// writeYAML writes tree as YAML, every leaf set to x.
func writeYAML(w *strings.Builder, tree map[string]any, indent string) {
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := tree[k].(map[string]any); ok {
			w.WriteString(indent + k + ":\n")
			writeYAML(w, sub, indent+"  ")
			continue
		}
		w.WriteString(indent + k + ": x\n")
	}
}

// cleanEnv is the test's environment without SWITCHBOARD_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			env = append(env, kv)
		}
	}
	return env
}

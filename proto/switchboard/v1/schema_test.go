package switchboardv1_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository's root, where buf.yaml is.
const root = "../../.."

// buf runs the buf that go.mod pins as a tool, from dir (inside the
// module, where go.mod names the tool).
func buf(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "buf"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSchemaLint(t *testing.T) {
	if out, err := buf(t, root, "lint"); err != nil {
		t.Fatalf("buf lint: %v\n%s", err, out)
	}
}

// TestSchemaNotBroken checks the schema against the released v1 image:
// adding is fine, renaming, renumbering or retyping a field is not. It
// also breaks a copy on purpose, to show the check can fail.
func TestSchemaNotBroken(t *testing.T) {
	against := filepath.Join("proto", "v1.binpb")
	if out, err := buf(t, root, "breaking", "--against", against); err != nil {
		t.Fatalf("buf breaking: %v\n%s", err, out)
	}

	dir := t.TempDir()
	copyTree(t, filepath.Join(root, "proto"), filepath.Join(dir, "proto"))
	for _, f := range []string{"buf.yaml"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dir, f))
	}
	types := filepath.Join(dir, "proto", "switchboard", "v1", "types.proto")
	b, err := os.ReadFile(types)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), "uint64 offset = 2;", "uint64 offset = 12;", 1)
	if broken == string(b) {
		t.Fatal("types.proto no longer has Position's offset = 2; update the test's mutation")
	}
	if err := os.WriteFile(types, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := buf(t, root, "breaking", dir, "--against", against)
	if err == nil {
		t.Fatalf("buf breaking accepted a renumbered field:\n%s", out)
	}
	if !strings.Contains(out, "offset") {
		t.Errorf("buf breaking failed without naming the field:\n%s", out)
	}
}

// TestGeneratedCodeCurrent regenerates the Go code into a temporary
// directory and compares it with what is committed.
func TestGeneratedCodeCurrent(t *testing.T) {
	dir := t.TempDir()
	if out, err := buf(t, root, "generate", "--output", dir); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, out)
	}
	fresh := filepath.Join(dir, "proto")
	n := 0
	err := filepath.WalkDir(fresh, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fresh, path)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(root, "proto", rel))
		if err != nil {
			t.Errorf("proto/%s is generated but not committed (run make proto)", rel)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("proto/%s differs from a fresh generation (run make proto)", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("buf generate wrote nothing")
	}
	// And nothing generated is left behind after a schema file is gone.
	err = filepath.WalkDir(filepath.Join(root, "proto"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Base(path) == "doc.go" {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(root, "proto"), path)
		if _, err := os.Stat(filepath.Join(fresh, rel)); err != nil {
			t.Errorf("proto/%s is committed but no longer generated", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		copyFile(t, path, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

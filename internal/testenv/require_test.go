package testenv_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

// fakeT records how a helper stopped a test. Skipf and Fatalf end the
// calling goroutine, as testing's do, so the helper's code after them never
// runs.
type fakeT struct {
	skipped, failed string
}

func (*fakeT) Helper()        {}
func (*fakeT) Cleanup(func()) {}

func (f *fakeT) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a fakeT in a goroutine of its own, which Skipf and
// Fatalf may end, and returns the record with fn's result.
func run(fn func(testenv.TB) string) (*fakeT, string) {
	f := &fakeT{}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = fn(f)
	}()
	<-done
	return f, got
}

func TestMissingSkipsLocallyAndFailsUnderCI(t *testing.T) {
	missing := func(tb testenv.TB) string {
		return testenv.NPMPackage(tb, t.TempDir(), "no-such-package")
	}
	for _, tc := range []struct {
		ci       string
		wantSkip bool
	}{
		{"", true},
		{"false", true},
		{"true", false},
		{"1", false},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			f, got := run(missing)
			if got != "" {
				t.Errorf("returned %q for a missing package", got)
			}
			switch {
			case tc.wantSkip && (f.skipped == "" || f.failed != ""):
				t.Errorf("skipped %q, failed %q; want a skip", f.skipped, f.failed)
			case !tc.wantSkip && (f.failed == "" || f.skipped != ""):
				t.Errorf("skipped %q, failed %q; want a failure", f.skipped, f.failed)
			}
			if why := f.skipped + f.failed; !strings.Contains(why, "no-such-package") || !strings.Contains(why, "make deps") {
				t.Errorf("reason %q does not say what is missing and how to install it", why)
			}
		})
	}
}

func TestNPMPackage(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "node_modules", "@scope", "name")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"name":"@scope/name","version":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := testenv.NPMPackage(t, dir, "@scope/name"); got != pkg {
		t.Errorf("NPMPackage = %q, want %q", got, pkg)
	}

	// A directory that is not the package is as good as missing.
	t.Setenv("CI", "")
	if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"name":"other"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := run(func(tb testenv.TB) string { return testenv.NPMPackage(tb, dir, "@scope/name") })
	if f.skipped == "" {
		t.Errorf("a package.json naming another package was accepted")
	}
}

func TestNodeMissing(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("PATH", t.TempDir())
	f, got := run(func(tb testenv.TB) string { return testenv.Node(tb) })
	if got != "" || !strings.Contains(f.skipped, "node") {
		t.Errorf("with no node on PATH: returned %q, skipped %q, failed %q", got, f.skipped, f.failed)
	}
}

// TestFound checks the real machine: what make deps installs is found. Each
// skips, with its reason, where it is not installed.
func TestFound(t *testing.T) {
	t.Run("chromium", func(t *testing.T) {
		p := testenv.Chromium(t)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			t.Errorf("Chromium = %q: %v", p, err)
		}
	})
	t.Run("node", func(t *testing.T) {
		p := testenv.Node(t)
		if !filepath.IsAbs(p) {
			t.Errorf("Node = %q, want an absolute path", p)
		}
	})
}

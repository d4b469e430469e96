package testenv

import (
	"fmt"
	"os"
	"strconv"
)

// TB is the part of testing.TB the functions of this package use. Every
// *testing.T and *testing.B is one.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// CI reports whether the tests run under continuous integration: the
// environment variable CI holds a true value ("true", as GitHub Actions,
// GitLab and most CI systems set it, or "1").
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Unavailable stops a test that needs something this machine lacks. Locally
// the test is skipped, so a developer without Chromium can still run
// everything else; under CI it fails, because there a skipped integration
// test would look like a passing one. why says what is missing and how to
// install it.
func Unavailable(t TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI is set, so a missing dependency fails the test instead of skipping it)", why)
		return
	}
	t.Skipf("%s (skipped; with CI=true this fails)", why)
}

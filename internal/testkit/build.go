package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildSwitchboard builds the switchboard command at the path binary,
// passing flags (such as -race) to go build, for the tests that run real
// nodes over the network; TestMain builds once for the package. The go
// command's output goes to the test's.
func BuildSwitchboard(binary string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", binary, "github.com/switchboardhq/switchboard/cmd/switchboard")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", binary, err)
	}
	return nil
}

// RunWithSwitchboard is the body of a TestMain for tests that run real
// nodes: it builds the switchboard command with flags into a temporary
// directory, sets *binary to its path, runs the tests and removes the
// directory, whose other files go with it. It returns the exit code; a
// failed build is 1.
func RunWithSwitchboard(m *testing.M, binary *string, flags ...string) int {
	dir, err := os.MkdirTemp("", "switchboard-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*binary = filepath.Join(dir, "switchboard")
	if err := BuildSwitchboard(*binary, flags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

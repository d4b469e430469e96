package testenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// debianChromium is where Debian's chromium package installs its launcher.
// The launcher, not the binary under /usr/lib/chromium, is what to run: it
// sets the flags Debian's build needs (for example, not relying on a small
// /dev/shm).
const debianChromium = "/usr/bin/chromium"

// MinNodeMajor is the oldest Node.js the test programs run on: the oldest
// that playwright-core supports.
const MinNodeMajor = 20

// Chromium returns the path of Debian's chromium: /usr/bin/chromium, or
// chromium on PATH. Browser tests use it and never a browser downloaded by
// a test tool, so they run against what users of the distribution run.
// Without it the test is skipped, or fails under CI (see Unavailable).
func Chromium(t TB) string {
	t.Helper()
	if executable(debianChromium) {
		return debianChromium
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	Unavailable(t, "chromium is not installed (looked for %s and on PATH); "+
		"install Debian's package: apt-get install chromium, or run make deps", debianChromium)
	return ""
}

// Node returns the path of the node executable, at least MinNodeMajor.
// Without it, or with an older one, the test is skipped, or fails under CI.
func Node(t TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		Unavailable(t, "node is not on PATH; install Node.js %d or later", MinNodeMajor)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "--version").Output()
	if err != nil {
		Unavailable(t, "%s --version: %v", p, err)
		return ""
	}
	v := strings.TrimSpace(string(out))
	major, ok := nodeMajor(v)
	if !ok || major < MinNodeMajor {
		Unavailable(t, "%s is Node.js %s; the test programs need %d or later", p, v, MinNodeMajor)
		return ""
	}
	return p
}

// nodeMajor reads the major version from node --version ("v20.11.1").
func nodeMajor(v string) (int, bool) {
	v, ok := strings.CutPrefix(v, "v")
	if !ok {
		return 0, false
	}
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return n, err == nil
}

// NPMPackage returns the directory of the npm package name (such as
// "playwright-core" or "@scope/name") installed in dir/node_modules, where
// dir holds the package.json and package-lock.json that list it. Without it
// the test is skipped, or fails under CI; `make deps` (npm ci) installs it.
//
// Only dir's own node_modules counts, not those above it: the lockfile in
// dir pins the version the tests were written against.
func NPMPackage(t TB, dir, name string) string {
	t.Helper()
	pkg := filepath.Join(dir, "node_modules", filepath.FromSlash(name))
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		Unavailable(t, "npm package %s is not installed in %s; run make deps (npm ci in that directory)", name, dir)
		return ""
	}
	var meta struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Name != name {
		Unavailable(t, "%s does not hold the npm package %s; reinstall it: rm -rf %s && npm ci",
			pkg, name, filepath.Join(dir, "node_modules"))
		return ""
	}
	return pkg
}

// executable reports whether path is a regular file someone may execute.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

package testenv_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
)

func mustDo(t *testing.T, s *testenv.RedisServer, args ...string) string {
	t.Helper()
	got, err := s.Do(args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return got
}

// refused reports whether nothing listens on addr any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestRedis(t *testing.T) {
	t.Parallel()
	s := testenv.Redis(t)
	if host, _, err := net.SplitHostPort(s.Addr()); err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr %q, want 127.0.0.1:port", s.Addr())
	}
	if got := s.URL(); got != "redis://"+s.Addr()+"/0" {
		t.Errorf("URL %q", got)
	}
	if got := mustDo(t, s, "PING"); got != "PONG" {
		t.Fatalf("PING answered %q", got)
	}
	if got := mustDo(t, s, "SET", "greeting", "hello\r\nworld"); got != "OK" {
		t.Fatalf("SET answered %q", got)
	}
	if got := mustDo(t, s, "GET", "greeting"); got != "hello\r\nworld" {
		t.Errorf("GET answered %q", got)
	}
	if got := mustDo(t, s, "GET", "missing"); got != "" {
		t.Errorf("GET of a missing key answered %q", got)
	}
	if got := mustDo(t, s, "INCR", "n"); got != "1" {
		t.Errorf("INCR answered %q", got)
	}
	if _, err := s.Do("NO-SUCH-COMMAND"); err == nil {
		t.Error("an unknown command returned no error")
	}
	if _, err := s.Do("CONFIG", "GET", "save"); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("an array reply gave %v, want an error saying it is unsupported", err)
	}

	addr := s.Addr()
	s.Kill()
	if !refused(addr) {
		t.Fatal("something still listens after Kill")
	}
	s.Kill() // a second Kill is harmless

	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr())
	}
	if got := mustDo(t, s, "GET", "greeting"); got != "" {
		t.Errorf("without persistence, a killed server kept %q", got)
	}

	s.Stop()
	if !refused(addr) {
		t.Fatal("something still listens after Stop")
	}
	s.Stop()
}

func TestRedisAppendOnly(t *testing.T) {
	t.Parallel()
	s := testenv.Redis(t, testenv.RedisAppendOnly())
	for i := range 100 {
		mustDo(t, s, "RPUSH", "log", strings.Repeat("x", i))
	}
	// Killed, not stopped: only what was fsynced before the reply survives,
	// which with appendfsync always is everything acknowledged.
	s.Kill()
	s.Restart()
	if got := mustDo(t, s, "LLEN", "log"); got != "100" {
		t.Errorf("after kill and restart the list holds %s entries, want 100", got)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "appendonlydir")); err != nil {
		t.Errorf("no append-only files in the server's directory: %v", err)
	}
}

func TestRedisArgs(t *testing.T) {
	t.Parallel()
	s := testenv.Redis(t, testenv.RedisArgs("--databases", "3"))
	if _, err := s.Do("SELECT", "2"); err != nil {
		t.Errorf("SELECT 2 with 3 databases: %v", err)
	}
	if _, err := s.Do("SELECT", "3"); err == nil {
		t.Error("SELECT 3 with 3 databases succeeded; the option was not passed")
	}
}

// Several servers at once get distinct ports and directories.
func TestRedisIsolated(t *testing.T) {
	t.Parallel()
	a, b := testenv.Redis(t), testenv.Redis(t)
	if a.Addr() == b.Addr() || a.Dir() == b.Dir() {
		t.Fatalf("two servers share %s / %s", a.Addr(), a.Dir())
	}
	mustDo(t, a, "SET", "k", "a")
	if got := mustDo(t, b, "GET", "k"); got != "" {
		t.Errorf("a key set on one server is on the other: %q", got)
	}
}

package redis

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckVersion(t *testing.T) {
	for _, c := range []struct {
		info    string
		refused bool
	}{
		{"# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\n", true},
		{"# Server\r\nredis_version:5.0.14\r\n", true},
		{"# Server\r\nredis_version:6.2.0\r\n", false},
		{"# Server\r\nredis_version:7.0.15\r\n", false},
		{"# Server\r\nredis_version:10.0.0\r\n", false},
		{"# Server\r\nredis_mode:standalone\r\n", false}, // does not say: the commands decide
	} {
		err := checkVersion(c.info)
		if (err != nil) != c.refused {
			t.Errorf("checkVersion(%q) = %v, want refused=%v", c.info, err, c.refused)
		}
		if err != nil && !strings.Contains(err.Error(), MinServerVersion) {
			t.Errorf("checkVersion(%q) = %v, want it to name %s", c.info, err, MinServerVersion)
		}
	}
}

// TestRequiredCommands: the list is read from the scripts, so a command a
// script starts calling is checked at start without anyone listing it.
func TestRequiredCommands(t *testing.T) {
	got := requiredCommands()
	for _, want := range []string{"XADD", "XTRIM", "XRANGE", "XREVRANGE", "HINCRBY", "ZRANGEBYSCORE", "HVALS", "EVALSHA", "PUBLISH", "SUBSCRIBE"} {
		if !slices.Contains(got, want) {
			t.Errorf("requiredCommands() = %v, lacks %s", got, want)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("requiredCommands() = %v, want sorted and without repeats", got)
	}
}

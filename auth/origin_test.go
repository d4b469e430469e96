package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/stream"
)

func TestOrigins(t *testing.T) {
	t.Parallel()
	const host = "rt.example.com"
	lists := map[string][]string{
		"none":  nil,
		"any":   {"*"},
		"exact": {"https://app.example.com", "http://localhost:3000"},
		"wild":  {"https://*.example.com"},
		"mixed": {" https://App.Example.COM/ ", "https://*.cdn.example.net:8443", "capacitor://localhost", "http://[::1]:8080"},
	}
	for _, tc := range []struct {
		list, origin, host string
		ok                 bool
	}{
		// No Origin header: not a browser.
		{"none", "", host, true},
		{"exact", "", "anything", true},

		// Same origin, the default.
		{"none", "https://rt.example.com", host, true},
		{"none", "http://rt.example.com", host, true},
		{"none", "https://RT.Example.com", host, true},
		{"none", "https://rt.example.com", "RT.EXAMPLE.COM", true},
		{"none", "HTTPS://rt.example.com:443", host, true},
		{"none", "https://rt.example.com:443", "rt.example.com:443", true},
		{"none", "https://rt.example.com:8000", "rt.example.com:8000", true},
		{"none", "http://rt.example.com:08000", "rt.example.com:8000", true},
		{"none", "https://rt.example.com:8000", host, false},
		{"none", "https://rt.example.com", "rt.example.com:8000", false},
		{"none", "http://127.0.0.1:8000", "127.0.0.1:8000", true},
		{"none", "http://[::1]:8000", "[::1]:8000", true},
		{"none", "http://[0:0::1]:8000", "[::1]:8000", true},
		{"none", "https://app.example.com", host, false},
		{"none", "https://rt.example.com.evil.com", host, false},
		{"none", "https://evil.com", "", false},
		{"none", "null", host, false},
		{"none", "https://rt.example.com/path", host, false},
		{"exact", "https://rt.example.com", host, true},

		// Any.
		{"any", "https://evil.com", host, true},
		{"any", "null", host, true},
		{"any", "garbage", host, true},

		// Exact.
		{"exact", "https://app.example.com", host, true},
		{"exact", "https://APP.example.com", host, true},
		{"exact", "https://app.example.com:443", host, true},
		{"exact", "http://app.example.com", host, false},
		{"exact", "https://app.example.com:8443", host, false},
		{"exact", "https://a.app.example.com", host, false},
		{"exact", "https://app.example.com.evil.com", host, false},
		{"exact", "https://evilapp.example.com", host, false},
		{"exact", "https://app.example.co", host, false},
		{"exact", "http://localhost:3000", host, true},
		{"exact", "http://localhost", host, false},
		{"exact", "http://localhost:3001", host, false},
		{"exact", "https://localhost:3000", host, false},
		{"exact", "null", host, false},
		{"exact", "https://user@app.example.com", host, false},
		{"exact", "https://app.example.com/", host, false},
		{"exact", "https://app.example.com?x", host, false},
		{"exact", "https://app.example.com#x", host, false},
		{"exact", "https://app.example.com:", host, false},
		{"exact", "https://app.example.com:0", host, false},
		{"exact", "https://app.example.com:65536", host, false},
		{"exact", "https://app.example.com:443x", host, false},
		{"exact", "//app.example.com", host, false},
		{"exact", "app.example.com", host, false},
		{"exact", "https://", host, false},
		{"exact", "https://app..example.com", host, false},
		{"exact", "https://app.example.com.", host, false},
		{"exact", "https://app.example.com\x00", host, false},
		{"exact", "https://app.exam ple.com", host, false},

		// Wildcard subdomains.
		{"wild", "https://a.example.com", host, true},
		{"wild", "https://a.b.example.com", host, true},
		{"wild", "https://A.EXAMPLE.COM", host, true},
		{"wild", "https://example.com", host, false},
		{"wild", "https://.example.com", host, false},
		{"wild", "https://evil-example.com", host, false},
		{"wild", "https://evilexample.com", host, false},
		{"wild", "https://example.com.evil.com", host, false},
		{"wild", "https://a.example.com.evil.com", host, false},
		{"wild", "http://a.example.com", host, false},
		{"wild", "https://a.example.com:8443", host, false},
		{"wild", "https://a.example.com:443", host, true},

		// Mixed.
		{"mixed", "https://app.example.com", host, true},
		{"mixed", "https://x.cdn.example.net:8443", host, true},
		{"mixed", "https://x.cdn.example.net", host, false},
		{"mixed", "capacitor://localhost", host, true},
		{"mixed", "capacitor://localhost:1", host, false},
		{"mixed", "http://[::1]:8080", host, true},
		{"mixed", "http://[::2]:8080", host, false},
		{"mixed", "http://[::1%eth0]:8080", host, false},
		{"mixed", "http://[::1:8080", host, false},
	} {
		o, err := auth.NewOrigins(lists[tc.list])
		if err != nil {
			t.Fatalf("NewOrigins(%q): %v", lists[tc.list], err)
		}
		err = o.Check(tc.origin, tc.host)
		if got := o.Allowed(tc.origin, tc.host); got != (err == nil) {
			t.Errorf("%s: Allowed(%q, %q) = %v but Check says %v", tc.list, tc.origin, tc.host, got, err)
		}
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: Check(%q, %q) = %v, want allowed", tc.list, tc.origin, tc.host, err)
		case !tc.ok && err == nil:
			t.Errorf("%s: Check(%q, %q) allowed", tc.list, tc.origin, tc.host)
		case !tc.ok && !errors.Is(err, stream.ErrOriginNotAllowed):
			t.Errorf("%s: Check(%q, %q) = %v, want ErrOriginNotAllowed", tc.list, tc.origin, tc.host, err)
		}
	}
}

func TestOriginsNil(t *testing.T) {
	t.Parallel()
	var o *auth.Origins
	if err := o.Check("https://rt.example.com", "rt.example.com"); err != nil {
		t.Errorf("same origin: %v", err)
	}
	if err := o.Check("", "rt.example.com"); err != nil {
		t.Errorf("no origin: %v", err)
	}
	if o.Allowed("https://evil.com", "rt.example.com") {
		t.Error("a nil *Origins allowed another origin")
	}
}

func TestNewOriginsRefuses(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"example.com",
		"*.example.com",
		"https://*",
		"https://a.*.example.com",
		"https://*example.com",
		"https://example.com/app",
		"https://example.com:99999",
		"https://*.[::1]",
		"https://exämple.com",
		"ht tp://example.com",
		"null",
	} {
		if _, err := auth.NewOrigins([]string{"https://ok.example.com", p}); err == nil {
			t.Errorf("NewOrigins accepted %q", p)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("NewOrigins(%q): error %q does not name the pattern", p, err)
		}
	}
	if _, err := auth.NewOrigins([]string{"", " "}); err != nil {
		t.Errorf("empty patterns: %v", err)
	}
}

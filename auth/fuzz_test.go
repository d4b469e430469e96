package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/stream"
)

// FuzzVerify feeds Verify arbitrary strings against every kind of key. It
// must never panic, must refuse with exactly one of the two token sentinels,
// and anything it accepts must name a user.
func FuzzVerify(f *testing.F) {
	k := keys()
	v := newVerifier(f, auth.Config{
		HMACSecrets: []string{secret},
		PublicKeys:  []string{pemOf(f, k.rsa.Public()), pemOf(f, k.p256.Public()), pemOf(f, k.p384.Public()), pemOf(f, k.ed.Public())},
		Issuer:      "iss",
	})
	full := jwt.MapClaims{
		"sub": "alice", "iss": "iss", "exp": time.Now().Add(time.Hour).Unix(),
		"channels": []string{"a", "b*"}, "info": map[string]any{"x": 1},
	}
	for _, s := range []string{
		signRaw(f, jwt.SigningMethodHS256, []byte(secret), full, nil),
		signRaw(f, jwt.SigningMethodHS512, []byte(secret), full, map[string]any{"kid": "k"}),
		signRaw(f, jwt.SigningMethodRS256, k.rsa, full, nil),
		signRaw(f, jwt.SigningMethodPS256, k.rsa, full, nil),
		signRaw(f, jwt.SigningMethodES256, k.p256, full, nil),
		signRaw(f, jwt.SigningMethodES384, k.p384, full, nil),
		signRaw(f, jwt.SigningMethodEdDSA, k.ed, full, nil),
		signRaw(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, full, nil),
		signRaw(f, jwt.SigningMethodHS256, []byte(pemOf(f, k.rsa.Public())), full, nil),
		signRaw(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "iss": "iss", "exp": 1}, nil),
		signRaw(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"iss": "iss"}, nil),
		signRaw(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "iss": "iss", "channels": "a", "info": []int{1}}, nil),
		"", ".", "..", "a.b.c", "!!!.###.$$$", "eyJ.eyJ.", "eyJhbGciOiJIUzI1NiJ9.e30.", strings.Repeat("a", auth.MaxTokenLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err == nil {
			if id.User == "" {
				t.Fatalf("accepted a token without a user: %q", token)
			}
			return
		}
		expired, invalid := errors.Is(err, stream.ErrTokenExpired), errors.Is(err, stream.ErrInvalidToken)
		if expired == invalid {
			t.Fatalf("err = %v: want exactly one of ErrTokenExpired, ErrInvalidToken", err)
		}
		if id.User != "" || id.Info != nil || id.Channels != nil {
			t.Fatalf("refused, yet returned %+v", id)
		}
	})
}

// FuzzOrigins checks that Check never panics and that no origin outside the
// allow-list slips through by confusing the parser.
func FuzzOrigins(f *testing.F) {
	o, err := auth.NewOrigins([]string{"https://app.example.com", "https://*.example.org"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"https://app.example.com", "https://a.example.org", "https://example.org", "null", "",
		"https://app.example.com.evil.com", "http://[::1]:80", "https://app.example.com:443", "HTTPS://APP.EXAMPLE.COM",
	} {
		f.Add(s, "rt.example.com")
	}
	f.Fuzz(func(t *testing.T, origin, host string) {
		if !o.Allowed(origin, host) {
			return
		}
		lo := strings.ToLower(origin)
		switch {
		case origin == "":
		case strings.HasPrefix(lo, "https://app.example.com"):
		case strings.HasPrefix(lo, "https://") && (strings.HasSuffix(lo, ".example.org") || strings.HasSuffix(lo, ".example.org:443")):
		case strings.Contains(lo, "://") && strings.Contains(lo, strings.ToLower(strings.TrimPrefix(strings.Split(host, ":")[0], "["))):
			// same origin
		default:
			t.Fatalf("Allowed(%q, %q)", origin, host)
		}
	})
}

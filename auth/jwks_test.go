package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// jwksServer serves a JWK Set that a test can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]any // kid → key; public keys except for "oct" test keys
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		store := jwkset.NewMemoryStorage()
		for kid, key := range s.keys {
			jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
				Metadata: jwkset.JWKMetadataOptions{KID: kid},
				Marshal:  jwkset.JWKMarshalOptions{Private: true},
			})
			if err != nil {
				t.Errorf("JWK %s: %v", kid, err)
				http.Error(w, err.Error(), 500)
				return
			}
			if err := store.KeyWrite(r.Context(), jwk); err != nil {
				t.Error(err)
			}
		}
		body, err := store.JSONPrivate(r.Context())
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(kid string, key any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[kid] = key
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, map[string]any{
		"rsa": k.rsa.Public(),
		"ec":  k.p256.Public(),
		"ed":  k.ed.Public(),
		"oct": []byte(secret),
	})
	// HMAC configured too, so that HS256 reaches the key lookup and the
	// JWKS "oct" key is what refuses it.
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL, HMACSecrets: []string{"the configured secret, not the JWKS one"}})
	kid := func(s string) map[string]any { return map[string]any{"kid": s} }
	claims := jwt.MapClaims{"sub": "alice"}
	for _, tc := range []struct {
		name   string
		token  string
		reason string // "" when accepted
	}{
		{"RS256 by kid", signRaw(t, jwt.SigningMethodRS256, k.rsa, claims, kid("rsa")), ""},
		{"PS384 by kid", signRaw(t, jwt.SigningMethodPS384, k.rsa, claims, kid("rsa")), ""},
		{"ES256 by kid", signRaw(t, jwt.SigningMethodES256, k.p256, claims, kid("ec")), ""},
		{"EdDSA by kid", signRaw(t, jwt.SigningMethodEdDSA, k.ed, claims, kid("ed")), ""},
		{"no kid tries every key", signRaw(t, jwt.SigningMethodES256, k.p256, claims, nil), ""},
		{"kid of another key", signRaw(t, jwt.SigningMethodRS256, k.rsa, claims, kid("ec")), "no key for RS256"},
		{"wrong RSA key", signRaw(t, jwt.SigningMethodRS256, k.rsa2, claims, kid("rsa")), "signature does not match"},
		{"HS256 with the RSA JWK's kid", signRaw(t, jwt.SigningMethodHS256, []byte(pemOf(t, k.rsa.Public())), claims, kid("rsa")), "signature does not match"},
		{"HS256 with a JWKS secret", signRaw(t, jwt.SigningMethodHS256, []byte(secret), claims, kid("oct")), "signature does not match"},
		{"kid not a string", signRaw(t, jwt.SigningMethodRS256, k.rsa, claims, map[string]any{"kid": 7}), "no JWKS key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(tc.token)
			if tc.reason == "" {
				if err != nil || id.User != "alice" {
					t.Fatalf("Verify = %+v, %v", id, err)
				}
				return
			}
			wantRefused(t, err, stream.ErrInvalidToken, tc.reason)
		})
	}
}

func TestJWKSUnknownKid(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, map[string]any{"one": k.rsa.Public()})
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL})
	before := srv.fetches.Load()

	_, err := v.Verify(signRaw(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "a"}, map[string]any{"kid": "two"}))
	wantRefused(t, err, stream.ErrInvalidToken, `unknown key id "two"`)
	if got := srv.fetches.Load() - before; got != 1 {
		t.Errorf("an unknown kid caused %d fetches, want 1", got)
	}

	// Further unknown kids must not each cost a fetch.
	start := time.Now()
	for range 5 {
		_, err := v.Verify(signRaw(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "a"}, map[string]any{"kid": "three"}))
		wantRefused(t, err, stream.ErrInvalidToken, `"three"`)
	}
	if got := srv.fetches.Load() - before; got != 1 {
		t.Errorf("repeated unknown kids caused %d fetches, want 1 in all", got)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("refusing unknown kids took %v; Verify should not wait for the rate limit", d)
	}
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, map[string]any{"old": k.rsa.Public()})
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL})
	fresh, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv.set("new", fresh.Public())
	tok := signRaw(t, jwt.SigningMethodES384, fresh, jwt.MapClaims{"sub": "a"}, map[string]any{"kid": "new"})
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("a token signed with a key added to the JWKS: %v", err)
	}
}

func TestJWKSUnreachableAtStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	var logs bytes.Buffer
	v := newVerifier(t, auth.Config{JWKSURL: url, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := v.Verify(signRaw(t, jwt.SigningMethodRS256, keys().rsa, jwt.MapClaims{"sub": "a"}, nil))
	wantRefused(t, err, stream.ErrInvalidToken, "")
	if !strings.Contains(logs.String(), "JWKS fetch failed") {
		t.Errorf("no warning logged; logs:\n%s", logs.String())
	}
}

// TestJWKSCloseStopsRefresher runs the refresher fast, then checks that
// Close leaves no goroutine behind.
func TestJWKSCloseStopsRefresher(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	k := keys()
	srv := newJWKSServer(t, map[string]any{"k": k.ed.Public()})
	v, err := auth.NewVerifier(auth.Config{JWKSURL: srv.URL, JWKSRefresh: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "three fetches of the JWKS with a 5ms refresh", func() bool { return srv.fetches.Load() >= 3 })
	tok := signRaw(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"sub": "a"}, map[string]any{"kid": "k"})
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v.Close() // twice is fine
	srv.Close()
	goleak.VerifyNone(t, ignore)

	// Keys already fetched still verify after Close.
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("after Close: %v", err)
	}
}

package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/stream"
)

func TestVerifyEveryAlgorithm(t *testing.T) {
	t.Parallel()
	k := keys()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	iat := time.Now().Add(-time.Minute).Truncate(time.Second)
	claims := auth.Claims{
		Subject:   "alice",
		Channels:  []string{"chat:lobby", "private:alice*"},
		Info:      json.RawMessage(`{"name":"Alice"}`),
		ExpiresAt: exp,
		IssuedAt:  iat,
	}
	want := stream.Identity{
		User:      "alice",
		Channels:  []string{"chat:lobby", "private:alice*"},
		Info:      json.RawMessage(`{"name":"Alice"}`),
		ExpiresAt: exp.Add(auth.DefaultLeeway), // when the node stops accepting it
		IssuedAt:  iat,
	}
	hmacCfg := auth.Config{HMACSecrets: []string{secret}}
	pubCfg := func(s crypto.Signer) auth.Config { return auth.Config{PublicKeys: []string{pemOf(t, s.Public())}} }
	for _, tc := range []struct {
		alg string
		key crypto.Signer // nil: HMAC
		cfg auth.Config
	}{
		{"HS256", nil, hmacCfg},
		{"HS384", nil, hmacCfg},
		{"HS512", nil, hmacCfg},
		{"RS256", k.rsa, pubCfg(k.rsa)},
		{"RS384", k.rsa, pubCfg(k.rsa)},
		{"RS512", k.rsa, pubCfg(k.rsa)},
		{"PS256", k.rsa, pubCfg(k.rsa)},
		{"PS384", k.rsa, pubCfg(k.rsa)},
		{"PS512", k.rsa, pubCfg(k.rsa)},
		{"ES256", k.p256, pubCfg(k.p256)},
		{"ES384", k.p384, pubCfg(k.p384)},
		{"ES512", k.p521, pubCfg(k.p521)},
		{"EdDSA", k.ed, pubCfg(k.ed)},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			var (
				tok string
				err error
			)
			if tc.key == nil {
				tok, err = auth.MintHMAC([]byte(secret), tc.alg, claims)
			} else {
				tok, err = auth.Mint(tc.key, tc.alg, claims)
			}
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, tc.cfg)
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	k := keys()
	now := time.Now()
	rsaPEM := pemOf(t, k.rsa.Public())
	hmacOnly := auth.Config{HMACSecrets: []string{secret}}
	rsaOnly := auth.Config{PublicKeys: []string{rsaPEM}}
	sub := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return signRaw(t, jwt.SigningMethodHS256, []byte(secret), c, nil) }
	valid := hs(sub(nil))
	parts := strings.Split(valid, ".")

	for _, tc := range []struct {
		name   string
		cfg    auth.Config
		token  string
		want   error
		reason string
	}{
		{"no keys configured", auth.Config{}, valid, stream.ErrInvalidToken, "no token keys"},
		{"alg none", hmacOnly, signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, sub(nil), nil),
			stream.ErrInvalidToken, "algorithm none not accepted"},
		{"alg none, unsigned, rsa key", rsaOnly, b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".",
			stream.ErrInvalidToken, "algorithm none not accepted"},
		{"HS256 signed with the RSA public key PEM", rsaOnly,
			signRaw(t, jwt.SigningMethodHS256, []byte(rsaPEM), sub(nil), nil), stream.ErrInvalidToken, "algorithm HS256 not accepted"},
		{"HS256 signed with the RSA PEM, HMAC configured too",
			auth.Config{HMACSecrets: []string{secret}, PublicKeys: []string{rsaPEM}},
			signRaw(t, jwt.SigningMethodHS256, []byte(rsaPEM), sub(nil), nil), stream.ErrInvalidToken, "signature does not match"},
		{"RS256 with only HMAC secrets", hmacOnly,
			signRaw(t, jwt.SigningMethodRS256, k.rsa, sub(nil), nil), stream.ErrInvalidToken, "algorithm RS256 not accepted"},
		{"ES256 against an ES384 key", auth.Config{PublicKeys: []string{pemOf(t, k.p384.Public())}},
			signRaw(t, jwt.SigningMethodES256, k.p256, sub(nil), nil), stream.ErrInvalidToken, "algorithm ES256 not accepted"},
		{"ES256 against ES384 and another P-256 key",
			auth.Config{PublicKeys: []string{pemOf(t, k.p384.Public()), pemOf(t, k.p256b.Public())}},
			signRaw(t, jwt.SigningMethodES256, k.p256, sub(nil), nil), stream.ErrInvalidToken, "signature does not match"},
		{"RS256 against an ECDSA key", auth.Config{PublicKeys: []string{pemOf(t, k.p256.Public())}},
			signRaw(t, jwt.SigningMethodRS256, k.rsa, sub(nil), nil), stream.ErrInvalidToken, "algorithm RS256 not accepted"},
		{"EdDSA against an RSA key", rsaOnly,
			signRaw(t, jwt.SigningMethodEdDSA, k.ed, sub(nil), nil), stream.ErrInvalidToken, "algorithm EdDSA not accepted"},
		{"wrong HMAC secret", hmacOnly,
			signRaw(t, jwt.SigningMethodHS256, []byte("another secret of enough length!"), sub(nil), nil), stream.ErrInvalidToken, "signature does not match"},
		{"wrong RSA key", rsaOnly,
			signRaw(t, jwt.SigningMethodRS256, k.rsa2, sub(nil), nil), stream.ErrInvalidToken, "signature does not match"},
		{"wrong Ed25519 key", auth.Config{PublicKeys: []string{pemOf(t, k.ed.Public())}},
			signRaw(t, jwt.SigningMethodEdDSA, k.ed2, sub(nil), nil), stream.ErrInvalidToken, "signature does not match"},
		{"tampered claims", hmacOnly, parts[0] + "." + b64(`{"sub":"mallory"}`) + "." + parts[2],
			stream.ErrInvalidToken, "signature does not match"},
		{"expired", hmacOnly, hs(sub(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), stream.ErrTokenExpired, "token expired at"},
		{"expired and wrong issuer", auth.Config{HMACSecrets: []string{secret}, Issuer: "https://id.example.com"},
			hs(sub(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix(), "iss": "evil"})), stream.ErrInvalidToken, "wrong issuer"},
		{"expired, bad signature", hmacOnly,
			signRaw(t, jwt.SigningMethodHS256, []byte("x"), sub(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}), nil),
			stream.ErrInvalidToken, "signature does not match"},
		{"nbf in the future", hmacOnly, hs(sub(jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()})), stream.ErrInvalidToken, "not valid yet"},
		{"iat in the future", hmacOnly, hs(sub(jwt.MapClaims{"iat": now.Add(time.Minute).Unix()})), stream.ErrInvalidToken, "issued in the future"},
		{"wrong issuer", auth.Config{HMACSecrets: []string{secret}, Issuer: "https://id.example.com"},
			hs(sub(jwt.MapClaims{"iss": "https://evil.example.com"})), stream.ErrInvalidToken, "wrong issuer \"https://evil.example.com\" (want \"https://id.example.com\")"},
		{"missing issuer", auth.Config{HMACSecrets: []string{secret}, Issuer: "https://id.example.com"},
			hs(sub(nil)), stream.ErrInvalidToken, "missing iss (want \"https://id.example.com\")"},
		{"wrong audience", auth.Config{HMACSecrets: []string{secret}, Audience: "switchboard"},
			hs(sub(jwt.MapClaims{"aud": []string{"billing", "mail"}})), stream.ErrInvalidToken, "wrong audience"},
		{"missing audience", auth.Config{HMACSecrets: []string{secret}, Audience: "switchboard"},
			hs(sub(nil)), stream.ErrInvalidToken, "missing aud (want \"switchboard\")"},
		{"missing sub", hmacOnly, hs(jwt.MapClaims{"channels": []string{"a"}}), stream.ErrInvalidToken, "missing sub"},
		{"empty sub", hmacOnly, hs(jwt.MapClaims{"sub": ""}), stream.ErrInvalidToken, "missing sub"},
		{"info not an object", hmacOnly, hs(sub(jwt.MapClaims{"info": "admin"})), stream.ErrInvalidToken, "info is not a JSON object"},
		{"channels not an array", hmacOnly, hs(sub(jwt.MapClaims{"channels": "chat:lobby"})), stream.ErrInvalidToken, "malformed"},
		{"exp not a number", hmacOnly, hs(sub(jwt.MapClaims{"exp": "tomorrow"})), stream.ErrInvalidToken, "malformed"},
		{"empty", hmacOnly, "", stream.ErrInvalidToken, "empty token"},
		{"two dots", hmacOnly, "..", stream.ErrInvalidToken, "malformed"},
		{"one dot", hmacOnly, "a.b", stream.ErrInvalidToken, "malformed"},
		{"four parts", hmacOnly, valid + ".x", stream.ErrInvalidToken, "malformed"},
		{"bad base64", hmacOnly, "!!!.###.$$$", stream.ErrInvalidToken, "malformed"},
		// Refused as sent, never rewritten to U+FFFD (107, not 101).
		{"not UTF-8", hmacOnly, valid[:len(valid)-1] + "\xff", stream.ErrBadRequest, "not UTF-8"},
		{"padded base64", hmacOnly, parts[0] + "=." + parts[1] + "." + parts[2], stream.ErrInvalidToken, "malformed"},
		{"header not JSON", hmacOnly, b64("nope") + "." + parts[1] + "." + parts[2], stream.ErrInvalidToken, "malformed"},
		{"unknown alg", hmacOnly, b64(`{"alg":"XS256"}`) + "." + parts[1] + "." + parts[2], stream.ErrInvalidToken, "unsupported algorithm"},
		{"huge", hmacOnly, hs(sub(jwt.MapClaims{"pad": strings.Repeat("x", auth.MaxTokenLen)})), stream.ErrInvalidToken, "at most 8192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, tc.cfg)
			id, err := v.Verify(tc.token)
			wantRefused(t, err, tc.want, tc.reason)
			if diff := cmp.Diff(stream.Identity{}, id); diff != "" {
				t.Errorf("identity of a refused token (-want +got):\n%s", diff)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyTimes(t *testing.T) {
	t.Parallel()
	// Times are offsets from when each subtest signs its token: subtests
	// run in parallel with the whole package and may start late.
	type at time.Duration
	for _, tc := range []struct {
		name       string
		leeway     time.Duration
		claims     jwt.MapClaims
		ok         bool
		requireExp bool
	}{
		{"no exp never expires", 0, jwt.MapClaims{}, true, false},
		{"exp ahead", 0, jwt.MapClaims{"exp": at(time.Minute)}, true, false},
		{"exp 2s ago within the default 5s", 0, jwt.MapClaims{"exp": at(-2 * time.Second)}, true, false},
		{"exp 10s ago beyond the default", 0, jwt.MapClaims{"exp": at(-10 * time.Second)}, false, false},
		{"exp 2s ago without leeway", -1, jwt.MapClaims{"exp": at(-2 * time.Second)}, false, false},
		{"exp 50s ago within 1m", time.Minute, jwt.MapClaims{"exp": at(-50 * time.Second)}, true, false},
		{"nbf 2s ahead within the default", 0, jwt.MapClaims{"nbf": at(2 * time.Second)}, true, false},
		{"nbf 2s ahead without leeway", -1, jwt.MapClaims{"nbf": at(2 * time.Second)}, false, false},
		{"nbf passed", -1, jwt.MapClaims{"nbf": at(-time.Second)}, true, false},
		{"iat 2s ahead within the default", 0, jwt.MapClaims{"iat": at(2 * time.Second)}, true, false},
		{"iat 2s ahead without leeway", -1, jwt.MapClaims{"iat": at(2 * time.Second)}, false, false},
		{"iat long ago", -1, jwt.MapClaims{"iat": at(-24 * time.Hour)}, true, false},
		{"fractional exp", 0, jwt.MapClaims{"exp": float64(time.Now().Add(time.Hour).UnixMilli()) / 1000}, true, false},
		{"exp 3s ago within 5s", 5 * time.Second, jwt.MapClaims{"exp": at(-3 * time.Second)}, true, false},
		{"no exp when exp is required", 0, jwt.MapClaims{}, false, true},
		{"exp when exp is required", 0, jwt.MapClaims{"exp": at(time.Minute)}, true, true},
		{"exp 3s ago within 5s when exp is required", 5 * time.Second, jwt.MapClaims{"exp": at(-3 * time.Second)}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.claims["sub"] = "alice"
			for k, v := range tc.claims {
				if d, ok := v.(at); ok {
					tc.claims[k] = time.Now().Add(time.Duration(d)).Unix()
				}
			}
			v := newVerifier(t, auth.Config{HMACSecrets: []string{secret}, Leeway: tc.leeway, RequireExp: tc.requireExp})
			id, err := v.Verify(signRaw(t, jwt.SigningMethodHS256, []byte(secret), tc.claims, nil))
			if tc.ok != (err == nil) {
				t.Fatalf("Verify: %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && tc.requireExp && (!errors.Is(err, stream.ErrInvalidToken) || !strings.Contains(err.Error(), "token.require_exp")) {
				t.Errorf("Verify: %v, want an invalid token naming token.require_exp", err)
			}
			exp, hasExp := tc.claims["exp"]
			if err == nil && hasExp == id.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt = %v with exp claim %v", id.ExpiresAt, exp)
			}
			// Whoever checks ExpiresAt after Verify (the transports on
			// every request, the hub for a session's lifetime) applies the
			// same leeway: an accepted token is not expired.
			if err == nil && hasExp && !id.ExpiresAt.After(time.Now()) {
				t.Errorf("accepted, but ExpiresAt %v has passed", id.ExpiresAt)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{HMACSecrets: []string{secret}, Issuer: "https://id.example.com", Audience: "switchboard"})
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   stream.Identity
	}{
		{"minimal", jwt.MapClaims{}, stream.Identity{User: "u"}},
		{"audience among several", jwt.MapClaims{"aud": []string{"mail", "switchboard"}}, stream.Identity{User: "u"}},
		{"info null", jwt.MapClaims{"info": nil}, stream.Identity{User: "u"}},
		{"nested info", jwt.MapClaims{"info": map[string]any{"a": []int{1, 2}}},
			stream.Identity{User: "u", Info: json.RawMessage(`{"a":[1,2]}`)}},
		{"empty channels", jwt.MapClaims{"channels": []string{}}, stream.Identity{User: "u", Channels: []string{}}},
		{"unknown claims ignored", jwt.MapClaims{"role": "admin", "jti": "x"}, stream.Identity{User: "u"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.claims["sub"] = "u"
			tc.claims["iss"] = "https://id.example.com"
			if _, ok := tc.claims["aud"]; !ok {
				tc.claims["aud"] = "switchboard"
			}
			got, err := v.Verify(signRaw(t, jwt.SigningMethodHS256, []byte(secret), tc.claims, nil))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifySecretRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	v := newVerifier(t, auth.Config{
		HMACSecrets: []string{"old secret, still accepted......", secret},
		PublicKeys:  []string{pemOf(t, k.rsa2.Public()) + pemOf(t, k.rsa.Public())},
	})
	for _, tok := range []string{
		signRaw(t, jwt.SigningMethodHS256, []byte("old secret, still accepted......"), jwt.MapClaims{"sub": "a"}, nil),
		mintHMAC(t, auth.Claims{Subject: "a"}),
		signRaw(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "a"}, nil),
		signRaw(t, jwt.SigningMethodPS256, k.rsa2, jwt.MapClaims{"sub": "a"}, nil),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if got, want := v.Algorithms(), []string{"HS256", "HS384", "HS512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}; !cmp.Equal(got, want) {
		t.Errorf("Algorithms() = %v, want %v", got, want)
	}
}

func TestVerifierZeroAndNil(t *testing.T) {
	t.Parallel()
	tok := mintHMAC(t, auth.Claims{Subject: "a"})
	var nilV *auth.Verifier
	for name, v := range map[string]*auth.Verifier{"nil": nilV, "zero": {}, "zero config": newVerifier(t, auth.Config{})} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(tok)
			wantRefused(t, err, stream.ErrInvalidToken, "no token keys")
			if err := v.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if len(v.Algorithms()) != 0 {
				t.Errorf("Algorithms() = %v", v.Algorithms())
			}
		})
	}
}

func TestNewVerifierBadKeys(t *testing.T) {
	t.Parallel()
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.rsa)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	good := pemOf(t, k.p256.Public())
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"empty secret", auth.Config{HMACSecrets: []string{secret, ""}}, "hmac_secrets[1]: empty secret"},
		{"not PEM", auth.Config{PublicKeys: []string{"ssh-rsa AAAA"}}, "public_keys[0]: no PEM block"},
		{"garbage after PEM", auth.Config{PublicKeys: []string{good + "trailing"}}, "public_keys[0]: text after"},
		{"private key", auth.Config{PublicKeys: []string{good, privPEM}}, "public_keys[1]: PEM block 1 (PRIVATE KEY): a private key"},
		{"corrupt DER", auth.Config{PublicKeys: []string{"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}}, "public_keys[0]: PEM block 1"},
		{"short RSA", auth.Config{PublicKeys: []string{pemOf(t, small.Public())}}, "RSA key of 1024 bits"},
		{"P-224", auth.Config{PublicKeys: []string{pemOf(t, p224.Public())}}, "curve P-224"},
		{"missing file", auth.Config{PublicKeyFiles: []string{filepath.Join(t.TempDir(), "nope.pem")}}, "public_key_files[0]"},
		{"bad JWKS URL", auth.Config{JWKSURL: "ftp://example.com/keys"}, "jwks_url"},
		{"relative JWKS URL", auth.Config{JWKSURL: "/keys"}, "jwks_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := auth.NewVerifier(tc.cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("err = %q shows a secret", err)
			}
		})
	}
}

func TestPublicKeyFilesAndCertificates(t *testing.T) {
	t.Parallel()
	k := keys()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tokens.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.p384.Public(), k.p384)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	keyFile := filepath.Join(dir, "rsa.pem")
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pkcs1, 0o600); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, auth.Config{PublicKeyFiles: []string{certFile, keyFile}})
	for _, tok := range []string{
		signRaw(t, jwt.SigningMethodES384, k.p384, jwt.MapClaims{"sub": "a"}, nil),
		signRaw(t, jwt.SigningMethodRS512, k.rsa, jwt.MapClaims{"sub": "a"}, nil),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	k := keys()
	v := newVerifier(t, auth.Config{
		HMACSecrets: []string{"a first secret of enough length.", secret},
		PublicKeys:  []string{pemOf(t, k.p256b.Public()), pemOf(t, k.p256.Public()), pemOf(t, k.ed.Public())},
	})
	toks := []string{
		mintHMAC(t, auth.Claims{Subject: "h"}),
		signRaw(t, jwt.SigningMethodES256, k.p256, jwt.MapClaims{"sub": "e"}, nil),
		signRaw(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"sub": "d"}, nil),
	}
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bad := signRaw(t, jwt.SigningMethodES256, stranger, jwt.MapClaims{"sub": "x"}, nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				tok := toks[(i+j)%len(toks)]
				if _, err := v.Verify(tok); err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
				if _, err := v.Verify(bad); err == nil {
					t.Error("a token signed with an unknown key was accepted")
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkVerifyHS256(b *testing.B) {
	v := newVerifier(b, auth.Config{HMACSecrets: []string{secret}})
	tok, err := auth.MintHMAC([]byte(secret), "HS256", auth.Claims{
		Subject:   "alice",
		Channels:  []string{"chat:lobby", "private:alice*"},
		Info:      json.RawMessage(`{"name":"Alice"}`),
		ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMintSetsIssuedAt: a token minted without an issue time gets the
// present one, which POST /api/disconnect compares against.
func TestMintSetsIssuedAt(t *testing.T) {
	t.Parallel()
	before := time.Now().Truncate(time.Second)
	tok, err := auth.MintHMAC([]byte(secret), "", auth.Claims{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := newVerifier(t, auth.Config{HMACSecrets: []string{secret}}).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.IssuedAt.Before(before) || id.IssuedAt.After(time.Now()) {
		t.Fatalf("IssuedAt %v, want about now", id.IssuedAt)
	}
}

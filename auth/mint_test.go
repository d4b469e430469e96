package auth_test

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboardhq/switchboard/auth"
)

func TestMintDefaultsAndHeader(t *testing.T) {
	t.Parallel()
	k := keys()
	now := time.Now()
	for _, tc := range []struct {
		key     crypto.Signer
		wantAlg string
	}{
		{k.rsa, "RS256"},
		{k.p256, "ES256"},
		{k.p384, "ES384"},
		{k.p521, "ES512"},
		{k.ed, "EdDSA"},
	} {
		tok, err := auth.Mint(tc.key, "", auth.Claims{
			Subject: "bob", KeyID: "key-1", Issuer: "iss", Audience: "aud",
			NotBefore: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour),
		})
		if err != nil {
			t.Fatalf("%T: %v", tc.key, err)
		}
		parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if got := parsed.Header["alg"]; got != tc.wantAlg {
			t.Errorf("%T: alg = %v, want %s", tc.key, got, tc.wantAlg)
		}
		if got := parsed.Header["kid"]; got != "key-1" {
			t.Errorf("%T: kid = %v", tc.key, got)
		}
		c := parsed.Claims.(jwt.MapClaims)
		for _, name := range []string{"sub", "iss", "aud", "nbf", "exp", "iat"} {
			if _, ok := c[name]; !ok {
				t.Errorf("%T: no %s claim in %v", tc.key, name, c)
			}
		}
		if _, ok := c["channels"]; ok {
			t.Errorf("%T: empty channels claim written", tc.key)
		}
	}
	tok, err := auth.MintHMAC([]byte(secret), "", auth.Claims{Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, b64(`{"alg":"HS256",`)) {
		t.Errorf("MintHMAC default alg: header %s", strings.Split(tok, ".")[0])
	}
}

func TestMintRefuses(t *testing.T) {
	t.Parallel()
	k := keys()
	ok := auth.Claims{Subject: "bob"}
	for _, tc := range []struct {
		name string
		mint func() (string, error)
		want string
	}{
		{"no subject", func() (string, error) { return auth.MintHMAC([]byte(secret), "", auth.Claims{}) }, "subject"},
		{"empty secret", func() (string, error) { return auth.MintHMAC(nil, "", ok) }, "empty secret"},
		{"RS256 as HMAC", func() (string, error) { return auth.MintHMAC([]byte(secret), "RS256", ok) }, `"RS256"`},
		{"none", func() (string, error) { return auth.MintHMAC([]byte(secret), "none", ok) }, `"none"`},
		{"info not an object", func() (string, error) {
			return auth.MintHMAC([]byte(secret), "", auth.Claims{Subject: "b", Info: json.RawMessage(`"x"`)})
		}, "info"},
		{"info not JSON", func() (string, error) {
			return auth.MintHMAC([]byte(secret), "", auth.Claims{Subject: "b", Info: json.RawMessage(`{x}`)})
		}, "info"},
		{"nil key", func() (string, error) { return auth.Mint(nil, "", ok) }, "nil key"},
		{"ES384 with P-256", func() (string, error) { return auth.Mint(k.p256, "ES384", ok) }, `"ES384"`},
		{"HS256 with RSA", func() (string, error) { return auth.Mint(k.rsa, "HS256", ok) }, `"HS256"`},
		{"RS256 with Ed25519", func() (string, error) { return auth.Mint(k.ed, "RS256", ok) }, `"RS256"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := tc.mint()
			if err == nil {
				t.Fatalf("minted %s", tok)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %s", err, tc.want)
			}
		})
	}
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	k := keys()
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, err := x509.MarshalECPrivateKey(k.p384)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		pem []byte
		pub any
	}{
		"PKCS #8 RSA":     {pkcs8(k.rsa), k.rsa.Public()},
		"PKCS #8 ECDSA":   {pkcs8(k.p256), k.p256.Public()},
		"PKCS #8 Ed25519": {pkcs8(k.ed), k.ed.Public()},
		"PKCS #1 RSA":     {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)}), k.rsa.Public()},
		"SEC 1 ECDSA":     {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), k.p384.Public()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key, err := auth.ParsePrivateKey(tc.pem)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := auth.Mint(key, "", auth.Claims{Subject: "carol"})
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, auth.Config{PublicKeys: []string{pemOf(t, tc.pub)}})
			if id, err := v.Verify(tok); err != nil || id.User != "carol" {
				t.Fatalf("Verify = %+v, %v", id, err)
			}
		})
	}
	for _, bad := range []string{"", "not pem", pemOf(t, k.rsa.Public()), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := auth.ParsePrivateKey([]byte(bad)); err == nil {
			t.Errorf("ParsePrivateKey(%.30q) succeeded", bad)
		}
	}
}

func Example() {
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: []string{"a secret of at least 32 bytes..."}})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	token, err := auth.MintHMAC([]byte("a secret of at least 32 bytes..."), "HS256", auth.Claims{
		Subject:   "alice",
		Channels:  []string{"private:alice*"},
		ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		panic(err)
	}
	id, err := v.Verify(token)
	fmt.Println(id.User, id.Grants("private:alice:inbox"), err)

	_, err = v.Verify(token + "x")
	fmt.Println(err)
	// Output:
	// alice true <nil>
	// invalid token: signature does not match
}

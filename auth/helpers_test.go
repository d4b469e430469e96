package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Policy = (*auth.Policy)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "0123456789abcdef0123456789abcdef"

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsa2        *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	p256b            *ecdsa.PrivateKey
	ed, ed2          ed25519.PrivateKey
}

var keys = sync.OnceValue(func() *testKeys {
	must := func(k crypto.Signer, err error) crypto.Signer {
		if err != nil {
			panic(err)
		}
		return k
	}
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		return must(ecdsa.GenerateKey(c, rand.Reader)).(*ecdsa.PrivateKey)
	}
	ed := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return must(k, err).(ed25519.PrivateKey)
	}
	return &testKeys{
		rsa:   must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsa2:  must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		p256:  ec(elliptic.P256()),
		p384:  ec(elliptic.P384()),
		p521:  ec(elliptic.P521()),
		p256b: ec(elliptic.P256()),
		ed:    ed(),
		ed2:   ed(),
	}
})

// pemOf encodes a public key as a PKIX "PUBLIC KEY" block.
func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func newVerifier(t testing.TB, cfg auth.Config) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// signRaw makes tokens Mint would refuse to: any claims, any header.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func mintHMAC(t testing.TB, c auth.Claims) string {
	t.Helper()
	s, err := auth.MintHMAC([]byte(secret), "", c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantRefused checks that err wraps want and not the other token sentinel,
// and that its reason contains reason.
func wantRefused(t *testing.T, err, want error, reason string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want one wrapping %v", err, want)
	}
	other := stream.ErrTokenExpired
	if want == stream.ErrTokenExpired {
		other = stream.ErrInvalidToken
	}
	if errors.Is(err, other) {
		t.Fatalf("err = %v wraps both %v and %v", err, want, other)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Fatalf("err = %q, want it to mention %q", err, reason)
	}
}

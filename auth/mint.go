package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a minted token says. Switchboard's own use is
// `switchboard token` and tests; production tokens usually come from the
// application's backend or an identity provider, with the same claims.
type Claims struct {
	// Subject is the user ("sub"); required.
	Subject string
	// Channels ("channels") grants channels beyond what the namespaces allow
	// everyone; an entry ending in "*" grants every channel with that prefix.
	Channels []string
	// Info ("info") is a JSON object shown in presence and client
	// publications.
	Info json.RawMessage
	// ExpiresAt ("exp"); zero: the token never expires.
	ExpiresAt time.Time
	// NotBefore ("nbf"); zero: none.
	NotBefore time.Time
	// IssuedAt ("iat"); zero: now.
	IssuedAt time.Time
	// Issuer ("iss") and Audience ("aud"); empty: none.
	Issuer   string
	Audience string
	// KeyID goes in the header as "kid", so a verifier with a JWK Set can
	// find the key.
	KeyID string
}

// MintHMAC signs a token with a shared secret. alg is HS256 (the default
// when empty), HS384 or HS512.
func MintHMAC(secret []byte, alg string, c Claims) (string, error) {
	if alg == "" {
		alg = "HS256"
	}
	if !slices.Contains(hmacAlgs, alg) {
		return "", fmt.Errorf("auth: mint: algorithm %q is not one of %v", alg, hmacAlgs)
	}
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty secret")
	}
	return sign(alg, secret, c)
}

// Mint signs a token with a private key: *rsa.PrivateKey (RS256, RS384,
// RS512, PS256, PS384, PS512), *ecdsa.PrivateKey (the ES algorithm of its
// curve) or ed25519.PrivateKey (EdDSA). An empty alg picks RS256 for RSA and
// the only choice for the others.
func Mint(key crypto.Signer, alg string, c Claims) (string, error) {
	if key == nil {
		return "", errors.New("auth: mint: nil key")
	}
	algs, err := algsFor(key.Public())
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	if alg == "" {
		alg = algs[0]
	}
	if !slices.Contains(algs, alg) {
		return "", fmt.Errorf("auth: mint: a %T cannot sign %q; it signs %v", key, alg, algs)
	}
	// jwt signs only with these concrete types; a crypto.Signer backed by an
	// HSM would need a SigningMethod of its own.
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return "", fmt.Errorf("auth: mint: unsupported key type %T", key)
	}
	return sign(alg, key, c)
}

func sign(alg string, key any, c Claims) (string, error) {
	if c.Subject == "" {
		return "", errors.New("auth: mint: a token needs a subject")
	}
	if len(c.Info) > 0 && (!json.Valid(c.Info) || c.Info[0] != '{') {
		return "", errors.New("auth: mint: info must be a JSON object")
	}
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: date(c.ExpiresAt),
			NotBefore: date(c.NotBefore),
		},
		Channels: c.Channels,
		Info:     c.Info,
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), &claims)
	if c.KeyID != "" {
		t.Header["kid"] = c.KeyID
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}

func date(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// MinRSABits is the smallest RSA modulus accepted, for verifying and minting
// alike: shorter keys can be factored by a determined attacker.
const MinRSABits = 2048

// Algorithm families. The algorithms a key may verify are decided here, by the
// key's type, and never by the token's header: that is what shuts out
// algorithm confusion (an HS256 token "signed" with an RSA public key's PEM,
// an ES256 token against a P-384 key).
var (
	hmacAlgs    = []string{"HS256", "HS384", "HS512"}
	rsaAlgs     = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	ed25519Algs = []string{"EdDSA"}
	// jwksAlgs are what a JWKS may serve. Symmetric keys are left out on
	// purpose: a secret published at a URL is no secret.
	jwksAlgs = slices.Concat(rsaAlgs, []string{"ES256", "ES384", "ES512"}, ed25519Algs)
)

// ecdsaAlg is the one algorithm each curve signs with (RFC 7518 §3.4).
var ecdsaAlg = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

// algsFor returns the algorithms a verification key may check, or an error
// saying why the key cannot be used at all.
func algsFor(key any) ([]string, error) {
	switch k := key.(type) {
	case []byte:
		if len(k) == 0 {
			return nil, errors.New("empty secret")
		}
		return hmacAlgs, nil
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, at least %d required", n, MinRSABits)
		}
		return rsaAlgs, nil
	case *ecdsa.PublicKey:
		alg, ok := ecdsaAlg[k.Curve.Params().Name]
		if !ok {
			return nil, fmt.Errorf("ECDSA curve %s is not one of P-256, P-384, P-521", k.Curve.Params().Name)
		}
		return []string{alg}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("malformed Ed25519 key")
		}
		return ed25519Algs, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// fits reports whether key may verify a token signed with alg.
func fits(alg string, key any) bool {
	algs, err := algsFor(key)
	return err == nil && slices.Contains(algs, alg)
}

// parsePublicKeys reads every PEM block of text. Public keys (PKIX or PKCS #1)
// and certificates are accepted; private keys are refused rather than
// silently reduced to their public half, because a server config is the wrong
// place for a signing key.
func parsePublicKeys(text []byte) ([]any, error) {
	var keys []any
	rest := text
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		key, err := parsePublicBlock(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", len(keys)+1, block.Type, err)
		}
		if _, err := algsFor(key); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", len(keys)+1, err)
		}
		keys = append(keys, key)
	}
	switch {
	case len(keys) == 0:
		return nil, errors.New("no PEM block found")
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, errors.New("text after the last PEM block")
	}
	return keys, nil
}

func parsePublicBlock(b *pem.Block) (any, error) {
	switch b.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return nil, errors.New("a private key; configure its public key instead")
	}
	return nil, errors.New("not a public key or certificate")
}

// ParsePrivateKey reads one PEM-encoded private key (PKCS #8, PKCS #1 or
// SEC 1) for Mint, as `switchboard token` does.
func ParsePrivateKey(pemText []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemText)
	if block == nil {
		return nil, errors.New("auth: no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("auth: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("auth: unsupported private key type %T", key)
	}
	if _, err := algsFor(signer.Public()); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return signer, nil
}

// JWKS fetch limits. Verify fetches the set inline when a token names an
// unknown key id (keyfunc allows one such fetch per five minutes), so the
// wait is capped to keep a slow identity provider from stalling connects.
const (
	jwksHTTPTimeout = 10 * time.Second
	jwksInlineWait  = 5 * time.Second
)

// jwks holds the keys of a remote JWK Set, refreshed by keyfunc's goroutine
// until close.
type jwks struct {
	keyfunc   jwt.Keyfunc
	cancel    context.CancelFunc
	transport *http.Transport
}

func startJWKS(rawURL string, refresh time.Duration, log *slog.Logger) (*jwks, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("jwks_url %q: want an http or https URL", rawURL)
	}
	// A private transport, so close can drop its idle connections and leave
	// no goroutine of ours behind.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	ctx, cancel := context.WithCancel(context.Background())
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{rawURL}, keyfunc.Override{
		Client:           &http.Client{Transport: transport, Timeout: jwksHTTPTimeout},
		HTTPTimeout:      jwksHTTPTimeout,
		RateLimitWaitMax: jwksInlineWait,
		RefreshInterval:  refresh,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "auth: JWKS fetch failed; keeping the keys already known", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("jwks_url %q: %w", rawURL, err)
	}
	return &jwks{keyfunc: kf.KeyfuncCtx(ctx), cancel: cancel, transport: transport}, nil
}

// keys returns the JWKS keys that may verify t: the one its kid names, or
// every key when it names none, in both cases only those fit for its alg.
func (j *jwks) keys(t *jwt.Token) ([]any, error) {
	got, err := j.keyfunc(t)
	if err != nil {
		kid, ok := t.Header["kid"].(string)
		switch {
		case !ok:
			return nil, keyError("no JWKS key for the token")
		case errors.Is(err, jwkset.ErrKeyNotFound):
			return nil, keyError(fmt.Sprintf("unknown key id %q", clip(kid, 64)))
		}
		// The key's own "alg" differs, or a refetch was refused by the rate
		// limit.
		return nil, keyError(fmt.Sprintf("no JWKS key %q for %s", clip(kid, 64), t.Method.Alg()))
	}
	var keys []any
	add := func(k any) {
		// Symmetric keys never come from a JWKS: see jwksAlgs.
		if _, secret := k.([]byte); !secret && fits(t.Method.Alg(), k) {
			keys = append(keys, k)
		}
	}
	if set, ok := got.(jwt.VerificationKeySet); ok {
		for _, k := range set.Keys {
			add(k)
		}
	} else {
		add(got)
	}
	return keys, nil
}

func (j *jwks) close() {
	j.cancel()
	j.transport.CloseIdleConnections()
}

// keyError is why no key could be found for a token; Verify reports it as is.
type keyError string

func (e keyError) Error() string { return string(e) }

// clip shortens untrusted text quoted in an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

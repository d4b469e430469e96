package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboardhq/switchboard/stream"
)

// MaxTokenLen is the longest token Verify reads, in bytes. Longer ones are
// refused before any parsing, so a hostile client cannot make the server
// decode megabytes of base64 and JSON.
const MaxTokenLen = 8192

// Defaults for Config fields left zero.
const (
	DefaultLeeway      = 5 * time.Second
	DefaultJWKSRefresh = time.Hour
)

// Config says which tokens a Verifier accepts. The zero Config accepts none:
// every token is refused, and clients connect anonymously by sending no token.
// It holds secrets: do not log or serve it.
type Config struct {
	// HMACSecrets verify HS256, HS384 and HS512 tokens. Several may be given
	// so a secret can be rotated without a flag day. Use at least 32 random
	// bytes: anyone holding one token can try to guess a short secret
	// offline, and a guessed secret mints any identity.
	HMACSecrets []string `koanf:"hmac_secrets" json:"hmac_secrets"`
	// PublicKeys are PEM texts of public keys or certificates. An RSA key
	// (at least 2048 bits) verifies RS256/384/512 and PS256/384/512; an ECDSA
	// key the one ES algorithm of its curve (P-256: ES256, P-384: ES384,
	// P-521: ES512); an Ed25519 key EdDSA. These keys carry no key id: each
	// one fit for a token's algorithm is tried, whatever the token's "kid".
	PublicKeys []string `koanf:"public_keys" json:"public_keys"`
	// PublicKeyFiles are paths of PEM files read as PublicKeys are, once, by
	// NewVerifier.
	PublicKeyFiles []string `koanf:"public_key_files" json:"public_key_files"`
	// JWKSURL is an http(s) URL serving a JSON Web Key Set, such as an
	// identity provider's. Its keys verify asymmetric tokens by their "kid",
	// and are refetched every JWKSRefresh and when a token names an unknown
	// kid (at most once per five minutes). Default: none.
	JWKSURL string `koanf:"jwks_url" json:"jwks_url"`
	// JWKSRefresh is how often the JWK Set is refetched. 0: DefaultJWKSRefresh (1h).
	JWKSRefresh time.Duration `koanf:"jwks_refresh" json:"jwks_refresh"`
	// Issuer, when set, must equal the token's "iss". Default: not checked.
	Issuer string `koanf:"issuer" json:"issuer"`
	// Audience, when set, must be one of the token's "aud". Default: not checked.
	Audience string `koanf:"audience" json:"audience"`
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// 0: DefaultLeeway (5s); negative: none. It applies wherever a token is
	// checked: Verify accepts a token up to Leeway past its exp, and the
	// Identity's ExpiresAt is exp plus Leeway, so a session is not ended,
	// nor an HTTP request refused, before the verifier would refuse it.
	Leeway time.Duration `koanf:"leeway" json:"leeway"`
	// RequireExp refuses tokens without an exp claim, which would otherwise
	// be valid forever (until revoked with POST /api/disconnect). Default
	// false, so tokens minted without an expiry keep working; turn it on
	// when every token comes from a backend or identity provider that sets
	// exp, as a leaked token then stops working on its own.
	RequireExp bool `koanf:"require_exp" json:"require_exp"`
	// Logger receives JWKS fetch failures. nil: slog.Default().
	Logger *slog.Logger `koanf:"-" json:"-"`
}

// Verifier turns tokens into identities. Its methods are safe for concurrent
// use. A nil *Verifier refuses every token.
type Verifier struct {
	parser    *jwt.Parser
	leeway    time.Duration
	algs      []string         // every algorithm some key can check
	static    map[string][]any // configured keys by algorithm
	jwks      *jwks
	issuer    string
	audience  string
	closeOnce sync.Once
}

// NewVerifier parses every configured key and, when JWKSURL is set, fetches
// the key set and starts refreshing it. A key that cannot be used is an error
// naming it. When JWKSURL is set, Close must be called to stop the refresh;
// it is always safe to call.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{static: make(map[string][]any), issuer: cfg.Issuer, audience: cfg.Audience}
	add := func(name string, key any) error {
		algs, err := algsFor(key)
		if err != nil {
			return fmt.Errorf("auth: %s: %w", name, err)
		}
		for _, alg := range algs {
			v.static[alg] = append(v.static[alg], key)
		}
		return nil
	}
	for i, s := range cfg.HMACSecrets {
		if err := add(fmt.Sprintf("hmac_secrets[%d]", i), []byte(s)); err != nil {
			return nil, err
		}
	}
	addPEM := func(name string, text []byte) error {
		keys, err := parsePublicKeys(text)
		if err != nil {
			return fmt.Errorf("auth: %s: %w", name, err)
		}
		for _, k := range keys {
			if err := add(name, k); err != nil {
				return err
			}
		}
		return nil
	}
	for i, s := range cfg.PublicKeys {
		if err := addPEM(fmt.Sprintf("public_keys[%d]", i), []byte(s)); err != nil {
			return nil, err
		}
	}
	for i, path := range cfg.PublicKeyFiles {
		name := fmt.Sprintf("public_key_files[%d] %q", i, path)
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", name, err)
		}
		if err := addPEM(name, text); err != nil {
			return nil, err
		}
	}
	for alg := range v.static {
		v.algs = append(v.algs, alg)
	}
	if cfg.JWKSURL != "" {
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		refresh := cfg.JWKSRefresh
		if refresh <= 0 {
			refresh = DefaultJWKSRefresh
		}
		j, err := startJWKS(cfg.JWKSURL, refresh, log)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		v.jwks = j
		for _, alg := range jwksAlgs {
			if !slices.Contains(v.algs, alg) {
				v.algs = append(v.algs, alg)
			}
		}
	}
	slices.Sort(v.algs)

	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	// Issuer and audience are checked by tokenClaims.Validate, so that their
	// reasons come out ahead of expiry: a refreshed token would not fix them.
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
	}
	if cfg.RequireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	v.parser = jwt.NewParser(opts...)
	v.leeway = leeway
	return v, nil
}

// Close stops refreshing the JWK Set. Tokens are still checked against the
// keys already fetched. It is safe to call more than once, and on a Verifier
// without JWKS.
func (v *Verifier) Close() error {
	if v != nil && v.jwks != nil {
		v.closeOnce.Do(v.jwks.close)
	}
	return nil
}

// Algorithms returns the signing algorithms some configured key can check,
// sorted; empty when every token would be refused.
func (v *Verifier) Algorithms() []string {
	if v == nil {
		return nil
	}
	return slices.Clone(v.algs)
}

// Verify checks a token's signature and claims and returns who it names.
// The Identity's ExpiresAt is the token's exp plus the leeway: the moment
// Verify would start refusing it, after which the node ends a session that
// holds it. An expired token gives an error wrapping stream.ErrTokenExpired;
// every other
// refusal wraps stream.ErrInvalidToken with a short reason. Clients without
// a token are anonymous: callers give them the zero Identity instead of
// calling Verify with "".
//
// With a JWKS, Verify may wait for a fetch of the key set when the token
// names an unknown key id: at most 5s, and at most once per five minutes.
func (v *Verifier) Verify(token string) (stream.Identity, error) {
	switch {
	case v == nil || len(v.algs) == 0:
		return stream.Identity{}, invalid("no token keys are configured")
	case token == "":
		return stream.Identity{}, invalid("empty token")
	case len(token) > MaxTokenLen:
		return stream.Identity{}, invalid(fmt.Sprintf("%d bytes, at most %d", len(token), MaxTokenLen))
	case !utf8.ValidString(token):
		// Refused as it came, never rewritten: a token is ASCII text.
		return stream.Identity{}, fmt.Errorf("%w: the token is not UTF-8 text", stream.ErrBadRequest)
	}
	c := tokenClaims{v: v}
	t, err := v.parser.ParseWithClaims(token, &c, v.keyFor)
	if err != nil {
		return stream.Identity{}, v.explain(t, &c, err)
	}
	id := stream.Identity{User: c.Subject, Channels: c.Channels}
	if len(c.Info) > 0 && string(c.Info) != "null" {
		id.Info = c.Info
	}
	if c.ExpiresAt != nil {
		id.ExpiresAt = c.ExpiresAt.Add(v.leeway)
	}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time
	}
	return id, nil
}

// keyFor is the jwt.Keyfunc. By the time it runs the parser has checked the
// header's alg against v.algs; it offers only keys whose type fits that alg.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	// Clipped so that appending JWKS keys never writes into the shared slice.
	keys := slices.Clip(v.static[alg])
	if v.jwks != nil && slices.Contains(jwksAlgs, alg) {
		more, err := v.jwks.keys(t)
		if err != nil && len(keys) == 0 {
			return nil, err
		}
		keys = append(keys, more...)
	}
	switch len(keys) {
	case 0:
		return nil, keyError("no key for " + alg)
	case 1:
		return keys[0], nil
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k
	}
	return set, nil
}

// explain turns a jwt error into a short reason under the right sentinel.
func (v *Verifier) explain(t *jwt.Token, c *tokenClaims, err error) error {
	var (
		kerr keyError
		cerr claimError
	)
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("malformed token")
	case t == nil || t.Method == nil:
		return invalid("unsupported algorithm")
	case !slices.Contains(v.algs, t.Method.Alg()):
		return invalid(fmt.Sprintf("algorithm %s not accepted", t.Method.Alg()))
	case errors.As(err, &kerr):
		return invalid(string(kerr))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("signature does not match")
	case errors.As(err, &cerr):
		return invalid(string(cerr))
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt == nil:
		return invalid("no exp, and this node requires one (token.require_exp)")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("issued in the future (iat)")
	case errors.Is(err, jwt.ErrTokenExpired):
		if c.ExpiresAt != nil {
			return fmt.Errorf("%w at %s", stream.ErrTokenExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return stream.ErrTokenExpired
	}
	return invalid("claims rejected")
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", stream.ErrInvalidToken, reason)
}

// tokenClaims is what Switchboard reads from a token. It is decoded before the
// signature is checked, and trusted only after.
type tokenClaims struct {
	jwt.RegisteredClaims
	Channels []string        `json:"channels,omitempty"`
	Info     json.RawMessage `json:"info,omitempty"`

	v *Verifier // for Validate; not part of the token
}

// claimError is why a claim other than a time is refused.
type claimError string

func (e claimError) Error() string { return string(e) }

// Validate implements jwt.ClaimsValidator; the parser calls it after the
// signature check and joins its error with the time checks.
func (c *tokenClaims) Validate() error {
	switch {
	case c.Subject == "":
		return claimError("missing sub")
	case len(c.Info) > 0 && c.Info[0] != '{' && string(c.Info) != "null":
		return claimError("info is not a JSON object")
	case c.v.issuer != "" && c.Issuer == "":
		return claimError(fmt.Sprintf("missing iss (want %q)", c.v.issuer))
	case c.v.issuer != "" && c.Issuer != c.v.issuer:
		return claimError(fmt.Sprintf("wrong issuer %q (want %q)", c.Issuer, c.v.issuer))
	case c.v.audience != "" && len(c.Audience) == 0:
		return claimError(fmt.Sprintf("missing aud (want %q)", c.v.audience))
	case c.v.audience != "" && !slices.Contains(c.Audience, c.v.audience):
		return claimError(fmt.Sprintf("wrong audience %q (want %q)", []string(c.Audience), c.v.audience))
	}
	return nil
}

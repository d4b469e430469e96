package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/auth"
)

func newTokenCmd(env *cliEnv) *cobra.Command {
	var (
		secret   string
		sub      string
		channels []string
		ttl      time.Duration
		info     string
		alg      string
		iss, aud string
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a client token (HMAC-signed JWT) for testing",
		Long: `Mint a JWT that a node configured with the same HMAC secret accepts, and print it.

The secret comes from --secret, else the first of token.hmac_secrets in the
environment (SWITCHBOARD_TOKEN__HMAC_SECRETS) or the config file; the iss and
aud claims from --iss and --aud, else token.issuer and token.audience, so a
node with the same config accepts the token. Production tokens usually come
from the application's backend, with the same claims: sub, channels, info,
exp, iss, aud.`,
		Example: `  switchboard token --secret s3cret --sub alice
  switchboard token --secret s3cret --sub bob --channels 'private:bob,team:*' --ttl 24h --info '{"name":"Bob"}'
  switchboard token --secret s3cret --sub carol --iss https://id.example.com --aud switchboard`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if secret == "" || !f.Changed("iss") || !f.Changed("aud") {
				cfg, err := env.load(cmd)
				if err != nil {
					return err
				}
				if secret == "" && len(cfg.Token.HMACSecrets) > 0 {
					secret = cfg.Token.HMACSecrets[0]
				}
				if !f.Changed("iss") {
					iss = cfg.Token.Issuer
				}
				if !f.Changed("aud") {
					aud = cfg.Token.Audience
				}
			}
			if secret == "" {
				return errors.New("no secret: pass --secret or set SWITCHBOARD_TOKEN__HMAC_SECRETS")
			}
			if sub == "" {
				return errors.New("--sub is required: the user the token names")
			}
			if ttl < 0 {
				return fmt.Errorf("--ttl must not be negative, got %s", ttl)
			}
			c := auth.Claims{Subject: sub, Channels: channels, Issuer: iss, Audience: aud}
			if info != "" {
				var obj map[string]any
				if err := json.Unmarshal([]byte(info), &obj); err != nil || obj == nil {
					return fmt.Errorf("--info must be a JSON object, got %q", info)
				}
				c.Info = json.RawMessage(info)
			}
			if ttl > 0 {
				c.ExpiresAt = time.Now().Add(ttl)
			}
			token, err := auth.MintHMAC([]byte(secret), alg, c)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, token)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&secret, "secret", "", "HMAC secret the node verifies tokens with")
	f.StringVar(&sub, "sub", "", "user the token names (required)")
	f.StringSliceVar(&channels, "channels", nil, "channels the token grants beyond the namespaces' rules; a trailing * grants a prefix")
	f.DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid; 0: forever")
	f.StringVar(&info, "info", "", "JSON object shown to others in presence and client publications")
	f.StringVar(&alg, "alg", "HS256", "signing algorithm: HS256, HS384 or HS512")
	f.StringVar(&iss, "iss", "", "issuer claim (iss); default: token.issuer of the config, if set")
	f.StringVar(&aud, "aud", "", "audience claim (aud); default: token.audience of the config, if set")
	return cmd
}

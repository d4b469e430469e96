package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newPublishCmd(env *cliEnv) *cobra.Command {
	var (
		url     string
		key     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "publish CHANNEL DATA",
		Short: "Publish to a channel through a node's HTTP API",
		Long: `Publish DATA, one JSON value, to CHANNEL through POST /api/publish, and print the
result: {"epoch":"...","offset":N}.

The API key comes from --api-key, else SWITCHBOARD_API_KEY, else the config file's
api_key. Strings are JSON too: quote them, as in '"hello"'.`,
		Example: `  switchboard publish --api-key KEY chat:lobby '{"text":"hi"}'
  switchboard publish --url http://node:8000 --key order-42 dashboard:orders '{"id":42}'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := env.load(cmd)
			if err != nil {
				return err
			}
			if cfg.APIKey == "" {
				return errors.New("no API key: pass --api-key or set SWITCHBOARD_API_KEY (the node prints its key when it starts)")
			}
			channel, data := args[0], args[1]
			if !json.Valid([]byte(data)) {
				return fmt.Errorf("DATA must be one JSON value, such as '{\"text\":\"hi\"}' or '\"hello\"'; got %q", data)
			}
			body, err := json.Marshal(map[string]any{"channel": channel, "data": json.RawMessage(data), "key": key})
			if err != nil {
				return err
			}
			out, err := callAPI(cmd, url, cfg.APIKey, "/api/publish", body, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s\n", bytes.TrimSpace(out))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "http://localhost:8000", "base URL of the node")
	f.String("api-key", "", "API key (env SWITCHBOARD_API_KEY)")
	f.StringVar(&key, "key", "", "idempotency key: a repeat with the same key within 5 minutes publishes nothing new")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the node")
	return cmd
}

// callAPI POSTs body to the node's API and returns the response body of a
// 200, or an error carrying the API's code and message.
func callAPI(cmd *cobra.Command, base, apiKey, path string, body []byte, timeout time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "apikey "+apiKey)
	client := &http.Client{Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return out, nil
	}
	var apiErr struct {
		Error *struct {
			Code    uint32 `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(out, &apiErr) == nil && apiErr.Error != nil {
		return nil, fmt.Errorf("error %d: %s (HTTP %d)", apiErr.Error.Code, apiErr.Error.Message, resp.StatusCode)
	}
	return nil, fmt.Errorf("HTTP %s: %s", resp.Status, bytes.TrimSpace(out))
}

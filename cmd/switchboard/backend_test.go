package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testenv"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

// TestOpenBackend checks that each broker comes with its own presence and
// control, and, for the brokers on a network, a readiness check that
// follows the service.
func TestOpenBackend(t *testing.T) {
	for _, tc := range []struct {
		kind string
		// start returns the broker URL and how to take the service away
		// (nil: it cannot go away).
		start   func(t *testing.T) (url string, away func())
		service string
	}{
		{kind: "memory", start: func(*testing.T) (string, func()) { return "memory", nil }},
		{kind: "redis", service: "Redis", start: func(t *testing.T) (string, func()) {
			r := testenv.Redis(t)
			return r.URL(), r.Kill
		}},
		{kind: "nats", service: "NATS", start: func(t *testing.T) (string, func()) {
			n := testenv.NATS(t)
			return n.URL(), n.Shutdown
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			url, away := tc.start(t)
			cfg, err := loadConfig("", []string{"SWITCHBOARD_BROKER=" + url}, nil)
			if err != nil {
				t.Fatal(err)
			}
			be, err := openBackend(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			if be.Kind != tc.kind {
				t.Errorf("Kind %q, want %q", be.Kind, tc.kind)
			}
			// Presence and control live on the broker itself.
			for what, v := range map[string]any{"Broker": be.Broker, "Presence": be.Presence, "Control": be.Control} {
				if got := fmt.Sprintf("%T", v); !strings.HasPrefix(got, "*"+tc.kind+".") {
					t.Errorf("%s is a %s, want one of package %s", what, got, tc.kind)
				}
			}
			if away == nil {
				if be.Health != nil {
					t.Error("the memory broker has a readiness check; it is always ready")
				}
				return
			}
			if be.Health == nil {
				t.Fatal("no readiness check")
			}

			ctx, cancel := context.WithCancel(t.Context())
			ran := make(chan error, 1)
			go func() { ran <- be.Broker.Run(ctx, func(*stream.Publication) {}) }()
			defer func() {
				cancel()
				<-ran
			}()
			waitHealth(t, be.Health, "ready", func(err error) bool { return err == nil })
			away()
			waitHealth(t, be.Health, "unready", func(err error) bool {
				return errors.Is(err, stream.ErrUnavailable) && strings.Contains(err.Error(), tc.service+" is unreachable")
			})
		})
	}
}

// waitHealth checks health until ok accepts its answer.
func waitHealth(t *testing.T, health func() error, want string, ok func(error) bool) {
	t.Helper()
	testkit.EventuallyNil(t, 30*time.Second, want, func() error {
		if err := health(); !ok(err) {
			return fmt.Errorf("health says %v", err)
		}
		return nil
	})
}

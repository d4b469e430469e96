package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/redis"
	"github.com/switchboardhq/switchboard/internal/testenv"
)

// TestMissingCommandIsRefused: a Redis whose operator disabled a command
// the scripts use (rename-command XTRIM "", as hardening guides suggest
// for commands that delete data) would fail every publish once history
// fills. New refuses it at start, naming the command.
func TestMissingCommandIsRefused(t *testing.T) {
	for _, cmd := range []string{"XTRIM", "EVALSHA"} {
		t.Run(cmd, func(t *testing.T) {
			srv := testenv.Redis(t, testenv.RedisArgs("--rename-command", cmd, ""))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			b, err := redis.New(ctx, redis.Config{URL: srv.URL()})
			if err == nil {
				b.Close()
				t.Fatalf("New on a Redis without %s succeeded", cmd)
			}
			t.Logf("New: %v", err)
			for _, want := range []string{cmd, redis.MinServerVersion} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New on a Redis without %s: %v; want an error naming %q", cmd, err, want)
				}
			}
		})
	}
}

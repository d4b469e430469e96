package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/broker/presencetest"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

var _ hub.Presence = (*memory.Presence)(nil)

func TestPresence(t *testing.T) {
	presencetest.Run(t, func(*testing.T) hub.Presence {
		return memory.NewPresence(memory.PresenceConfig{SweepInterval: 50 * time.Millisecond})
	})
}

func TestPresenceSecondRunRefused(t *testing.T) {
	p := memory.NewPresence(memory.PresenceConfig{})
	presencetest.Start(t, p)
	err := p.Run(context.Background(), func(string, bool, stream.ClientInfo) {})
	if err == nil {
		t.Fatal("a second concurrent Run returned nil")
	}
}

func TestPresenceExpiryByClock(t *testing.T) {
	now := time.Unix(1000, 0)
	p := memory.NewPresence(memory.PresenceConfig{Now: func() time.Time { return now }})
	ctx := context.Background()
	if err := p.Add(ctx, "c", stream.ClientInfo{Client: "a"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Clients(ctx, "c"); len(got) != 1 {
		t.Fatalf("before expiry: %v", got)
	}
	now = now.Add(time.Second)
	if got, _ := p.Clients(ctx, "c"); len(got) != 0 {
		t.Fatalf("at expiry: %v, want none", got)
	}
}

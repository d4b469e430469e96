package relay_test

import (
	"context"
	"testing"

	"github.com/switchboardhq/switchboard/broker/internal/relay"
)

func TestGate(t *testing.T) {
	var g relay.Gate
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Wait(ctx); err == nil {
		t.Fatal("Wait at a shut gate returned nil")
	}
	shut := g.Opened()
	g.Open()
	select {
	case <-shut:
	default:
		t.Fatal("Open did not release what waited")
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait at an open gate: %v", err)
	}
	g.Shut()
	g.Shut()
	select {
	case <-g.Opened():
		t.Fatal("the gate is open after Shut")
	default:
	}
	g.Open()
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait at a gate opened again: %v", err)
	}
}

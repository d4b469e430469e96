package transport_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/transport"
)

func TestWait(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := transport.Wait(ctx, &wg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a count left and ctx ended: %v, want context.Canceled", err)
	}
	wg.Done()
	if err := transport.Wait(context.Background(), &wg); err != nil {
		t.Fatalf("Wait with nothing left: %v", err)
	}
}

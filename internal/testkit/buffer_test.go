package testkit_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

func TestBuffer(t *testing.T) {
	var b testkit.Buffer
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(&b, "line %d\n", i)
		}()
	}
	wg.Wait()
	if got := len(b.String()); got != 4*len("line 0\n") {
		t.Fatalf("%d bytes written, want %d: %q", got, 4*len("line 0\n"), b.String())
	}
}

func TestBufferTail(t *testing.T) {
	var b testkit.Buffer
	fmt.Fprint(&b, "  starting\nfailed: no config \n")
	if got := b.Tail(100); got != "starting\nfailed: no config" {
		t.Errorf("whole tail %q", got)
	}
	if got := b.Tail(11); got != "…no config" {
		t.Errorf("cut tail %q", got)
	}
}

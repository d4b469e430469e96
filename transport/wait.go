package transport

import (
	"context"
	"net/http"
	"sync"
)

// Wait blocks until wg's count is zero or ctx ends, and returns ctx's error
// in the second case: how a handler waits, at shutdown, for the
// connections it serves outside net/http, which http.Server.Shutdown does
// not wait for. The goroutine that waits on wg outlives an early return
// until wg is done.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CanHijack reports whether w, or a ResponseWriter it wraps, lets its
// connection be taken over (http.Hijacker), looking through wrappers that
// say what they wrap as http.ResponseController does.
func CanHijack(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

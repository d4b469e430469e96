package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
)

// debugRoutes mounts the measurement endpoints, behind the API key: a full
// garbage collection that returns freed memory to the operating system (so
// a benchmark reads a node's resident memory without garbage in it), and Go's
// profiler.
func (s *Server) debugRoutes(m *http.ServeMux) {
	m.Handle("/debug/gc", s.api(func(w http.ResponseWriter, r *http.Request) error {
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]uint64{
			"heap_inuse":   ms.HeapInuse,
			"heap_alloc":   ms.HeapAlloc,
			"heap_objects": ms.HeapObjects,
			"stack_inuse":  ms.StackInuse,
			"sys":          ms.Sys,
			"goroutines":   uint64(runtime.NumGoroutine()),
		})
	}, http.MethodPost))
	profiler := func(h http.HandlerFunc) apiFunc {
		return func(w http.ResponseWriter, r *http.Request) error { h(w, r); return nil }
	}
	m.Handle("/debug/pprof/", s.api(profiler(pprof.Index), http.MethodGet))
	m.Handle("/debug/pprof/cmdline", s.api(profiler(pprof.Cmdline), http.MethodGet))
	m.Handle("/debug/pprof/profile", s.api(profiler(pprof.Profile), http.MethodGet))
	m.Handle("/debug/pprof/symbol", s.api(profiler(pprof.Symbol), http.MethodGet))
	m.Handle("/debug/pprof/trace", s.api(profiler(pprof.Trace), http.MethodGet))
}

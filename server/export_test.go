package server

import "net/http"

// HandleForTest mounts h on the node's mux, for handlers that report what
// a request looked like when it reached the node's handlers.
func HandleForTest(s *Server, pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

package transport

import (
	"net/http"
	"time"
)

// Default deadlines of a request that is not a stream (see Bound).
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// Bound puts h's requests under deadlines, so that a client can hold a
// connection, a descriptor and a goroutine only for so long:
//
//   - the request body must arrive within read of the handler starting
//     (the headers are bounded by the server's read-header timeout). Once
//     it has, net/http lifts the deadline as it starts watching the
//     connection for the client going away, so a slow backend does not cut
//     a request that was read in time. A body that has not arrived is a
//     read error; ReadJSON answers it with 408 and closes the connection.
//     A request without a body gets no read deadline: net/http is already
//     watching its connection, and a deadline would cancel the request.
//   - the reply must be written within write of its first byte (its
//     status line): a client that does not read its answer is cut off and
//     sees a truncated reply or a reset, and retries. The clock starts at
//     the first byte rather than the request so a long poll's hold does
//     not count against it.
//
// A zero duration takes its default (DefaultReadTimeout,
// DefaultWriteTimeout). Streams (SSE, WebSocket) must not be wrapped: they
// bound each write themselves. Bound is what every non-streaming endpoint
// of the node is served through; http.Server's own ReadTimeout and
// WriteTimeout cannot be used, as they would end the streams too.
func Bound(h http.Handler, read, write time.Duration) http.Handler {
	if read <= 0 {
		read = DefaultReadTimeout
	}
	if write <= 0 {
		write = DefaultWriteTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			// The error is ErrNotSupported on a writer that has no
			// connection (a recorder), where there is nothing to bound.
			_ = rc.SetReadDeadline(time.Now().Add(read))
		}
		h.ServeHTTP(&boundWriter{ResponseWriter: w, rc: rc, timeout: write}, r)
	})
}

// boundWriter sets the write deadline when the reply starts.
type boundWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (w *boundWriter) start() {
	if !w.started {
		w.started = true
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *boundWriter) WriteHeader(status int) {
	// Informational replies (100 Continue, 103) do not start the reply.
	if status >= 200 {
		w.start()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *boundWriter) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

// Flush keeps the writer an http.Flusher for handlers that check.
func (w *boundWriter) Flush() {
	w.start()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *boundWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

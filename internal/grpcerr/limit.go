package grpcerr

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"

	"connectrpc.com/connect"

	"github.com/switchboardhq/switchboard/stream"
)

// Limit bounds what one call may send to max bytes, as read from the
// network and again after decompression, and refuses more with the status
// of [stream.ErrMessageTooLarge], project code in the details, as the HTTP
// API refuses an oversize body. connect's own ReadMaxBytes refuses with a
// bare ResourceExhausted that no interceptor sees, so a service uses Limit
// instead: wrap its handler with wrap and give it opts (which leave
// ReadMaxBytes unset and swap in a gzip that counts what it inflates).
func Limit(max int64) (wrap func(http.Handler) http.Handler, opts []connect.HandlerOption) {
	tooLarge := func() error {
		return Error(fmt.Errorf("%w: request over %d bytes", stream.ErrMessageTooLarge, max))
	}
	wrap = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				// Read nothing: connect answers the first read with it.
				r.Body = &cappedBody{capped: capped{r: r.Body, left: -1, tooLarge: tooLarge}, c: r.Body}
			} else {
				r.Body = &cappedBody{capped: capped{r: r.Body, left: max, tooLarge: tooLarge}, c: r.Body}
			}
			h.ServeHTTP(w, r)
		})
	}
	opts = []connect.HandlerOption{connect.WithCompression("gzip",
		func() connect.Decompressor {
			return &cappedGzip{capped: capped{left: max, tooLarge: tooLarge}, max: max}
		},
		func() connect.Compressor { return gzip.NewWriter(io.Discard) },
	)}
	return wrap, opts
}

// capped reads at most left more bytes from r; past that, every read fails
// with tooLarge. A negative left fails the first read.
type capped struct {
	r        io.Reader
	left     int64
	tooLarge func() error
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, c.tooLarge()
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		// One byte past the bound: what came before it is still data.
		n, c.left = int(c.left), -1
		return n, c.tooLarge()
	}
	c.left -= int64(n)
	return n, err
}

type cappedBody struct {
	capped
	c io.Closer
}

func (b *cappedBody) Close() error { return b.c.Close() }

// cappedGzip is connect's gzip decompressor with what it inflates counted,
// per message.
type cappedGzip struct {
	capped
	gz  gzip.Reader
	max int64
}

func (g *cappedGzip) Reset(r io.Reader) error {
	g.r, g.left = &g.gz, g.max
	return g.gz.Reset(r)
}

func (g *cappedGzip) Close() error { return g.gz.Close() }

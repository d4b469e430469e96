package transport

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboardhq/switchboard/stream"
)

// The most a request's query string may hold. Every endpoint that reads a
// query reads it through Query, so a request over either bound gets the
// same answer everywhere, instead of Go's parser dropping every parameter
// (it does past 10,000) and the endpoint complaining about one it did not
// see.
const (
	// MaxQueryParams is the most parameters a query may hold: far more than
	// a request with MaxChannels channels, a cursor and a token needs.
	MaxQueryParams = 1000
	// MaxQueryBytes is the longest query string, in bytes.
	MaxQueryBytes = 8 << 10
)

// Query parses r's query string. A query over MaxQueryBytes or
// MaxQueryParams, or one Go's parser cannot read in full (a bad %-escape, a
// semicolon used as a separator), is stream.ErrBadRequest saying which:
// a request is answered for what it asked, never for what was left of it.
func Query(r *http.Request) (url.Values, error) {
	raw := r.URL.RawQuery
	// Counted as url.ParseQuery splits, before the length, so the message
	// names what is most likely wrong.
	if n := strings.Count(raw, "&") + strings.Count(raw, ";") + 1; raw != "" && n > MaxQueryParams {
		return nil, fmt.Errorf("%w: query has %d parameters, at most %d", stream.ErrBadRequest, n, MaxQueryParams)
	}
	if len(raw) > MaxQueryBytes {
		return nil, fmt.Errorf("%w: query of %d bytes, at most %d", stream.ErrBadRequest, len(raw), MaxQueryBytes)
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: unreadable query: %v", stream.ErrBadRequest, err)
	}
	return values, nil
}

package poll

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// query is what a poll asks for.
type query struct {
	channels []string
	cursor   stream.Cursor
	// timeout is how long to hold with nothing to answer; 0 is a short
	// poll.
	timeout time.Duration
	// client is the id the client keeps across polls; empty: mint one.
	client string
}

func (h *Handler) parse(r *http.Request, values url.Values) (query, error) {
	var q query
	var err error
	if q.channels, err = transport.Channels(values, h.maxChannels); err != nil {
		return q, err
	}
	if q.cursor, err = transport.Cursor(r, values); err != nil {
		return q, err
	}
	if q.client, err = parseClient(values); err != nil {
		return q, err
	}
	q.timeout = h.cfg.DefaultTimeout
	if v := values.Get("timeout"); v != "" {
		if q.timeout, err = parseTimeout(v, h.cfg.MaxTimeout); err != nil {
			return q, err
		}
	}
	return q, nil
}

// parseTimeout reads a Go duration ("25s", "500ms") or whole seconds ("25"),
// the form clients of other polling servers tend to send.
func parseTimeout(v string, limit time.Duration) (time.Duration, error) {
	var d time.Duration
	if digits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(limit/time.Second) {
			return 0, fmt.Errorf("%w: timeout %.32q is over the maximum of %s", stream.ErrBadRequest, v, limit)
		}
		d = time.Duration(n) * time.Second
	} else {
		var err error
		d, err = time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%w: timeout %.32q is neither a duration such as 25s nor whole seconds", stream.ErrBadRequest, v)
		}
	}
	switch {
	case d < 0:
		return 0, fmt.Errorf("%w: timeout %.32q is negative", stream.ErrBadRequest, v)
	case d > limit:
		return 0, fmt.Errorf("%w: timeout %.32q is over the maximum of %s", stream.ErrBadRequest, v, limit)
	}
	return d, nil
}

// maxClientLen is the longest client id a poll may send.
const maxClientLen = 64

// parseClient reads the client parameter: the id a previous reply gave,
// 1 to 64 characters of [A-Za-z0-9_-]. Absent, the node mints one.
func parseClient(values url.Values) (string, error) {
	vs, ok := values["client"]
	if !ok {
		return "", nil
	}
	if len(vs) != 1 {
		return "", fmt.Errorf("%w: client is given %d times", stream.ErrBadRequest, len(vs))
	}
	v := vs[0]
	if v == "" || len(v) > maxClientLen {
		return "", fmt.Errorf("%w: client must be 1 to %d characters of [A-Za-z0-9_-]", stream.ErrBadRequest, maxClientLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "", fmt.Errorf("%w: client must be 1 to %d characters of [A-Za-z0-9_-]", stream.ErrBadRequest, maxClientLen)
		}
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

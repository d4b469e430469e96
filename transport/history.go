package transport

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/switchboardhq/switchboard/stream"
)

// History pages are bounded the same way wherever history is read (the
// WebSocket command, GET /connection/history, GET /api/history), so one
// request cannot ask for a huge reply.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// OverLimit says what HistoryQuery does with a limit over MaxHistoryLimit.
type OverLimit bool

const (
	// CapLimit reads at most MaxHistoryLimit (the backend API).
	CapLimit OverLimit = true
	// RefuseLimit answers a bad request: a client asking for more than it
	// can get is a bug better seen early.
	RefuseLimit OverLimit = false
)

// HistoryQuery reads the history parameters of an HTTP request: limit
// (default DefaultHistoryLimit), reverse, and a position as since_epoch and
// since_offset. Bad values are stream.ErrBadRequest.
func HistoryQuery(values url.Values, over OverLimit) (stream.HistoryQuery, error) {
	q := stream.HistoryQuery{Limit: DefaultHistoryLimit}
	if v := values.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1
		}
		if q.Limit, err = HistoryLimit(n, over); err != nil {
			return q, err
		}
	}
	if v := values.Get("reverse"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return q, fmt.Errorf("%w: reverse must be true or false", stream.ErrBadRequest)
		}
		q.Reverse = b
	}
	epoch, offset := values.Get("since_epoch"), values.Get("since_offset")
	switch {
	case epoch != "":
		since := stream.Position{Epoch: epoch}
		if offset != "" {
			n, err := strconv.ParseUint(offset, 10, 64)
			if err != nil {
				return q, fmt.Errorf("%w: since_offset must be a whole number", stream.ErrBadRequest)
			}
			since.Offset = n
		}
		q.Since = &since
	case offset != "":
		// An offset means nothing outside its epoch.
		return q, fmt.Errorf("%w: since_offset needs since_epoch", stream.ErrBadRequest)
	}
	return q, nil
}

// HistoryLimit checks a page's limit, as every way of reading history does:
// 0 to MaxHistoryLimit, over it capped or refused as over says. A negative
// n is refused.
func HistoryLimit(n int, over OverLimit) (int, error) {
	if n < 0 || (n > MaxHistoryLimit && over == RefuseLimit) {
		return 0, fmt.Errorf("%w: limit must be a whole number from 0 to %d", stream.ErrBadRequest, MaxHistoryLimit)
	}
	return min(n, MaxHistoryLimit), nil
}

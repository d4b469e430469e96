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
			return q, errHistoryLimit
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
	var n uint64
	if offset != "" {
		var err error
		if n, err = strconv.ParseUint(offset, 10, 64); err != nil {
			return q, fmt.Errorf("%w: since_offset must be a whole number", stream.ErrBadRequest)
		}
	}
	since, err := HistorySince(epoch, n, offset != "")
	if err != nil {
		return q, err
	}
	q.Since = since
	return q, nil
}

// HistorySince is the position a history page starts after, however it
// came: none without an epoch, and an offset without an epoch is
// stream.ErrBadRequest (an offset means nothing outside its epoch).
// hasOffset says the request gave an offset, zero or not.
func HistorySince(epoch string, offset uint64, hasOffset bool) (*stream.Position, error) {
	if epoch == "" {
		if hasOffset {
			return nil, fmt.Errorf("%w: since_offset needs since_epoch", stream.ErrBadRequest)
		}
		return nil, nil
	}
	return &stream.Position{Epoch: epoch, Offset: offset}, nil
}

var errHistoryLimit = fmt.Errorf("%w: limit must be a whole number from 0 to %d", stream.ErrBadRequest, MaxHistoryLimit)

// HistoryLimit checks a history page's limit n, however it came (a query
// string, a gRPC field): negative is stream.ErrBadRequest, and over
// MaxHistoryLimit is capped or refused as over says. A request that gives
// no limit gets DefaultHistoryLimit.
func HistoryLimit(n int, over OverLimit) (int, error) {
	if n < 0 || (n > MaxHistoryLimit && over == RefuseLimit) {
		return 0, errHistoryLimit
	}
	return min(n, MaxHistoryLimit), nil
}

package transport

import (
	"fmt"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/internal/ratelimit"
	"github.com/switchboardhq/switchboard/stream"
)

// Charge takes one request from a client's budget in l, for the client
// commands that hold no session (the HTTP endpoints of package command and
// the unary calls of package grpc share one budget that way). A client is
// its token's subject, so a user's budget is the same on every address;
// without a valid token it is its address ([AddrKey]). A client id is not
// part of it: a client chooses its own, and could otherwise take a fresh
// budget with every request.
//
// Over the budget, Charge returns an error wrapping
// stream.ErrTooManyRequests and the whole seconds after which the client
// may try again (at least 1). A nil l allows everything.
func Charge(l *ratelimit.Limiter, remoteAddr string, id stream.Identity) (retry int, err error) {
	if l == nil {
		return 0, nil
	}
	key := "a:" + AddrKey(remoteAddr)
	if !id.Anonymous() {
		key = "u:" + id.User
	}
	ok, wait := l.Allow(key, time.Now())
	if ok {
		return 0, nil
	}
	secs := max(1, int((wait+time.Second-1)/time.Second))
	return secs, fmt.Errorf("%w: over %s requests a second; retry in %ds", stream.ErrTooManyRequests, strconv.FormatFloat(l.Rate(), 'g', -1, 64), secs)
}

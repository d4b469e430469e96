package redis

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/broker/internal/body"
	"github.com/switchboardhq/switchboard/broker/internal/relay"
)

// What goes over Redis, in two layers (see the package documentation):
//
// The body is what the publisher gave, encoded once by the node that
// publishes (see package body). The history entry is the body under the ID
// "<offset>-<unix ms>"; the live message, built by the publish script, is
//
//	"1 " epoch " " offset "-" unix-ms " " body
//
// The leading "1" versions the message and the first body byte versions
// the body, so a node can tell a format it does not know from garbage.
const messageMagic = "1 "

// errMalformed is body.ErrMalformed: a message or entry ID this node
// cannot read is as malformed as a body it cannot read.
var errMalformed = body.ErrMalformed

// parseID reads a history entry ID, "<offset>-<unix ms>".
func parseID(id string) (offset uint64, ms int64, err error) {
	o, t, ok := strings.Cut(id, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: entry ID %q", errMalformed, id)
	}
	if offset, err = strconv.ParseUint(o, 10, 64); err != nil || offset == 0 {
		return 0, 0, fmt.Errorf("%w: entry ID %q", errMalformed, id)
	}
	if ms, err = strconv.ParseInt(t, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: entry ID %q", errMalformed, id)
	}
	return offset, ms, nil
}

// message is a live publication as it came off the pub/sub connection,
// with its header read and its body not yet decoded: the delivery loop
// reads the position first, to drop repeats without decoding them.
type message struct {
	epoch  string // a substring of the message: clone before keeping
	offset uint64
	ms     int64
	body   string
}

// parseMessage reads the header of a live message.
func parseMessage(s string) (message, error) {
	rest, ok := strings.CutPrefix(s, messageMagic)
	if !ok {
		return message{}, fmt.Errorf("%w: unknown message format %.8q", errMalformed, s)
	}
	epoch, rest, ok := strings.Cut(rest, " ")
	if !ok || epoch == "" {
		return message{}, fmt.Errorf("%w: no epoch", errMalformed)
	}
	id, body, ok := strings.Cut(rest, " ")
	if !ok {
		return message{}, fmt.Errorf("%w: no entry ID", errMalformed)
	}
	offset, ms, err := parseID(id)
	if err != nil {
		return message{}, err
	}
	return message{epoch: epoch, offset: offset, ms: ms, body: body}, nil
}

// live hands m to the relay; its body is copied out of the message, so a
// publication never keeps a large Redis reply alive.
func (m message) live() relay.Live {
	return relay.Live{Epoch: m.epoch, Offset: m.offset, Time: m.ms, Body: []byte(m.body)}
}

package protocol_test

import (
	"fmt"

	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// A server reads a command and answers it, with a result or with the error
// the hub returned, mapped through the one code table.
func Example() {
	for _, frame := range []string{
		`{"type":"subscribe","id":2,"channel":"chat:lobby","since":{"epoch":"x1","offset":41}}`,
		`{"type":"subscribe","id":4,"channel":"admin:x"}`,
		`{"type":"subscribe","id":5}`,
		`{"type":"subscribe","id":6,"channel":`,
		`subscribe chat:lobby`,
	} {
		c, err := protocol.DecodeCommand([]byte(frame))
		if err == nil && c.Channel == "admin:x" {
			err = fmt.Errorf("subscribe %q: %w", c.Channel, stream.ErrPermissionDenied)
		}
		var reply []byte
		if err != nil {
			reply = protocol.AppendErrorReply(reply, c.Type, c.ID, protocol.ErrorFor(err))
		} else {
			reply = protocol.AppendSubscribeReply(reply, c.ID, c.Channel, stream.Position{Epoch: "x1", Offset: 44}, true)
		}
		fmt.Println(string(reply))
	}
	// Output:
	// {"type":"subscribe","id":2,"channel":"chat:lobby","epoch":"x1","offset":44,"recovered":true}
	// {"type":"subscribe","id":4,"error":{"code":103,"message":"subscribe \"admin:x\": permission denied"}}
	// {"type":"subscribe","id":5,"error":{"code":107,"message":"bad request: missing channel"}}
	// {"type":"subscribe","id":6,"error":{"code":107,"message":"bad request: malformed JSON at byte 37: unexpected end"}}
	// {"type":"error","error":{"code":107,"message":"bad request: a command is one JSON object"}}
}

// The session ends: the client is told why, and whether to come back.
func ExampleDisconnectFor() {
	d := protocol.DisconnectFor(stream.ErrShutdown)
	fmt.Println(string(protocol.AppendDisconnect(nil, d)))
	d = protocol.DisconnectFor(fmt.Errorf("verify: %w", stream.ErrInvalidToken))
	fmt.Println(d.Code, d.Reason, d.Reconnect)
	// Output:
	// {"type":"disconnect","code":3001,"reason":"shutdown","reconnect":true}
	// 3500 invalid token false
}

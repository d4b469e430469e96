package grpc

import (
	"fmt"

	"connectrpc.com/connect"

	"github.com/switchboardhq/switchboard/internal/grpcerr"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// unimplemented is the error of a call to a method the node does not
// serve: Unimplemented, with code 104 (unknown command) in its details.
func unimplemented(procedure string) *connect.Error {
	e := protocol.ErrorFor(fmt.Errorf("%w: no method %s", stream.ErrUnknownCommand, procedure))
	return grpcerr.New(connect.CodeUnimplemented, e)
}

// disconnectError is the status a stream ends with after its Disconnect
// event: Unavailable when the client should come back (it resumes with its
// positions), else the code of the cause; its details carry the
// disconnect's code and reason, the same as the event. A normal end (3000)
// is no error.
func disconnectError(d protocol.Disconnect, cause error) error {
	if d.Code == 3000 {
		return nil
	}
	code := connect.CodeUnavailable
	if !d.Reconnect {
		code = grpcerr.Code(protocol.ErrorFor(cause))
		if code == connect.CodeInternal {
			code = connect.CodeAborted
		}
	}
	return grpcerr.New(code, protocol.Error{Code: d.Code, Message: d.Reason})
}

package grpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// CodeFor is the gRPC code of an HTTP status from the one error table
// (protocol.Error.HTTPStatus), so a call refused over gRPC has the code that
// matches the status the same refusal has over HTTP. A status outside the
// table is Unknown.
func CodeFor(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeNotFound
	case http.StatusConflict:
		return connect.CodeAlreadyExists
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted
	case http.StatusInternalServerError:
		return connect.CodeInternal
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	}
	return connect.CodeUnknown
}

// Error turns err into the error a call ends with: the gRPC code of its
// code's HTTP status, and a switchboardv1.Error with the project's code and
// message in its details, so a client branches on the code as it does over
// every other transport. A connect error (one made here, or connect's own)
// is returned as it is; a context that ended is Canceled or
// DeadlineExceeded.
func Error(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*connect.Error](err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	e := protocol.ErrorFor(err)
	return withDetail(CodeFor(e.HTTPStatus()), e)
}

// withDetail is a connect error with code and e in its details.
func withDetail(code connect.Code, e protocol.Error) *connect.Error {
	ce := connect.NewError(code, errors.New(e.Message))
	// NewErrorDetail fails only for a message it cannot marshal; an Error
	// always marshals.
	if d, err := connect.NewErrorDetail(&switchboardv1.Error{Code: e.Code, Message: e.Message}); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

// unimplemented is the error of a call to a method the node does not
// serve: Unimplemented, with code 104 (unknown command) in its details.
func unimplemented(procedure string) *connect.Error {
	e := protocol.ErrorFor(fmt.Errorf("%w: no method %s", stream.ErrUnknownCommand, procedure))
	return withDetail(connect.CodeUnimplemented, e)
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
		code = CodeFor(protocol.ErrorFor(cause).HTTPStatus())
		if code == connect.CodeUnknown || code == connect.CodeInternal {
			code = connect.CodeAborted
		}
	}
	return withDetail(code, protocol.Error{Code: d.Code, Message: d.Reason})
}

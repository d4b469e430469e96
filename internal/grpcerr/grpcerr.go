package grpcerr

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// Error is err as a gRPC status: the code that goes with the HTTP status of
// err's project code ([Code]), err's project message as the status message,
// and a [switchboardv1.Error] with the code and message in the details, so a
// client branches on the project code whichever protocol it speaks.
// Internal details stay out of the message, as on the HTTP API
// ([protocol.ErrorFor]).
//
// A *connect.Error that already carries a project error is returned as it
// is. One without (connect's own refusals, such as an unknown compression)
// gets the project error that fits its gRPC code added, so that every
// failure of a service has a project code. A context that ended, where
// nothing more specific was found, gives Canceled or DeadlineExceeded, which
// gRPC clients treat specially. Error(nil) is nil.
func Error(err error) *connect.Error {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		if _, has := projectError(ce); has {
			return ce
		}
		e := protocol.ErrorFor(sentinelFor(ce.Code()))
		if e.HTTPStatus() < http.StatusInternalServerError {
			e.Message = ce.Message()
		}
		return withDetail(ce, e)
	}
	e := protocol.ErrorFor(err)
	code := Code(e)
	if code == connect.CodeInternal {
		// A context that ended under a call the node did not classify
		// otherwise: the caller left or ran out of time.
		switch {
		case errors.Is(err, context.Canceled):
			code = connect.CodeCanceled
		case errors.Is(err, context.DeadlineExceeded):
			code = connect.CodeDeadlineExceeded
		}
	}
	return withDetail(connect.NewError(code, errors.New(e.Message)), e)
}

// Code is the gRPC code for a project error: the one that means what its HTTP
// status means.
//
//	400 InvalidArgument     401 Unauthenticated   403 PermissionDenied
//	404 NotFound            408 DeadlineExceeded  409 AlreadyExists (105) / Aborted
//	413 ResourceExhausted   429 ResourceExhausted 503 Unavailable
//	500 and anything else Internal
func Code(e protocol.Error) connect.Code {
	switch e.HTTPStatus() {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeNotFound
	case http.StatusRequestTimeout:
		return connect.CodeDeadlineExceeded
	case http.StatusConflict:
		if errors.Is(e, stream.ErrAlreadySubscribed) {
			return connect.CodeAlreadyExists
		}
		return connect.CodeAborted
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	}
	return connect.CodeInternal
}

// FromError reads the project error out of a gRPC status a client received
// (or a handler returned): the [switchboardv1.Error] in its details. ok is
// false when err is no *connect.Error or carries none.
func FromError(err error) (e protocol.Error, ok bool) {
	ce, isConnect := errors.AsType[*connect.Error](err)
	if !isConnect {
		return protocol.Error{}, false
	}
	return projectError(ce)
}

func projectError(ce *connect.Error) (protocol.Error, bool) {
	for _, d := range ce.Details() {
		m, err := d.Value()
		if err != nil {
			continue
		}
		if pe, ok := m.(*switchboardv1.Error); ok {
			return protocol.Error{Code: pe.GetCode(), Message: pe.GetMessage()}, true
		}
	}
	return protocol.Error{}, false
}

// New is a status with code and e in its details, for a refusal whose gRPC
// code is not the one [Code] gives (a method the node does not serve, the
// end of a stream).
func New(code connect.Code, e protocol.Error) *connect.Error {
	return withDetail(connect.NewError(code, errors.New(e.Message)), e)
}

func withDetail(ce *connect.Error, e protocol.Error) *connect.Error {
	d, err := connect.NewErrorDetail(&switchboardv1.Error{Code: e.Code, Message: e.Message})
	if err == nil { // it cannot fail: the message is a registered type
		ce.AddDetail(d)
	}
	return ce
}

// sentinelFor is the project error for a gRPC refusal that did not come
// from the node's own checks: a malformed or oversize message, a call the
// node does not serve.
func sentinelFor(c connect.Code) error {
	switch c {
	case connect.CodeInvalidArgument:
		return stream.ErrBadRequest
	case connect.CodeResourceExhausted:
		return stream.ErrMessageTooLarge
	case connect.CodeUnimplemented:
		return stream.ErrUnknownCommand
	case connect.CodeUnauthenticated:
		return stream.ErrUnauthorized
	case connect.CodeUnavailable:
		return stream.ErrUnavailable
	}
	return stream.ErrInternal
}

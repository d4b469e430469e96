package grpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/switchboardhq/switchboard/internal/grpcerr"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// TestErrorCodes checks every row of the error table: the gRPC code is the
// one of its HTTP status, and the details carry the project code and
// message.
func TestErrorCodes(t *testing.T) {
	want := map[int]connect.Code{
		400: connect.CodeInvalidArgument,
		401: connect.CodeUnauthenticated,
		403: connect.CodePermissionDenied,
		404: connect.CodeNotFound,
		409: connect.CodeAborted,
		413: connect.CodeResourceExhausted,
		429: connect.CodeResourceExhausted,
		500: connect.CodeInternal,
		503: connect.CodeUnavailable,
	}
	for _, row := range protocol.Codes() {
		err := fmt.Errorf("%w: detail", row.Unwrap())
		ce := grpcerr.Error(err)
		code, ok := want[row.HTTPStatus()]
		if !ok {
			t.Fatalf("code %d has HTTP status %d, which the test does not know", row.Code, row.HTTPStatus())
		}
		if row.Code == protocol.ErrorFor(stream.ErrAlreadySubscribed).Code {
			code = connect.CodeAlreadyExists
		}
		if ce.Code() != code {
			t.Errorf("code %d (HTTP %d): gRPC %v, want %v", row.Code, row.HTTPStatus(), ce.Code(), code)
		}
		got, ok := grpcerr.FromError(ce)
		if !ok {
			t.Fatalf("code %d: no project error in the details", row.Code)
		}
		if wantErr := protocol.ErrorFor(err); got != wantErr {
			t.Errorf("code %d: details %+v, want %+v", row.Code, got, wantErr)
		}
		if ce.Message() != got.Message {
			t.Errorf("code %d: message %q, details say %q", row.Code, ce.Message(), got.Message)
		}
	}
}

func TestErrorHidesInternals(t *testing.T) {
	ce := grpcerr.Error(errors.New("dial tcp 10.0.0.7:6379: refused"))
	got, _ := grpcerr.FromError(ce)
	if ce.Code() != connect.CodeInternal || got.Code != 100 || got.Message != "internal error" || ce.Message() != "internal error" {
		t.Errorf("got %v %q, details %+v; want Internal, code 100, \"internal error\"", ce.Code(), ce.Message(), got)
	}
}

func TestErrorContext(t *testing.T) {
	if c := grpcerr.Error(fmt.Errorf("history: %w", context.Canceled)).Code(); c != connect.CodeCanceled {
		t.Errorf("canceled: %v", c)
	}
	if c := grpcerr.Error(fmt.Errorf("history: %w", context.DeadlineExceeded)).Code(); c != connect.CodeDeadlineExceeded {
		t.Errorf("deadline: %v", c)
	}
	// A classified error keeps its code even when a context ended under it.
	err := fmt.Errorf("%w: %w", stream.ErrUnavailable, context.DeadlineExceeded)
	if c := grpcerr.Error(err).Code(); c != connect.CodeUnavailable {
		t.Errorf("unavailable with a deadline under it: %v", c)
	}
}

func TestErrorConnectErrors(t *testing.T) {
	// connect's own refusal gets the project code that fits.
	ce := grpcerr.Error(connect.NewError(connect.CodeResourceExhausted, errors.New("message size 9000 is larger than configured max 100")))
	got, ok := grpcerr.FromError(ce)
	if !ok || got.Code != 112 || got.Message != "message size 9000 is larger than configured max 100" || ce.Code() != connect.CodeResourceExhausted {
		t.Errorf("oversize: %v, details %+v %v", ce.Code(), got, ok)
	}
	// One that has a project error already is left as it is.
	again := grpcerr.Error(fmt.Errorf("wrapped: %w", ce))
	if again != ce || len(again.Details()) != 1 {
		t.Errorf("a coded connect error was rebuilt: %v", again)
	}
	if grpcerr.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	if _, ok := grpcerr.FromError(errors.New("plain")); ok {
		t.Error("FromError found a project error in a plain error")
	}
}

// TestLimitBoundary reads bodies of the bound and one byte over it, with
// and without a Content-Length.
func TestLimitBoundary(t *testing.T) {
	const max = 100
	wrap, _ := grpcerr.Limit(max)
	for _, size := range []int{max, max + 1} {
		for _, declared := range []bool{true, false} {
			var got []byte
			var readErr error
			h := wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, readErr = io.ReadAll(r.Body)
			}))
			req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", size)))
			if !declared {
				req.ContentLength = -1
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if size <= max {
				if readErr != nil || len(got) != size {
					t.Errorf("%d bytes (declared %v): read %d, %v", size, declared, len(got), readErr)
				}
				continue
			}
			e, ok := grpcerr.FromError(readErr)
			if connect.CodeOf(readErr) != connect.CodeResourceExhausted || !ok || e.Code != 112 || len(got) > max {
				t.Errorf("%d bytes (declared %v): read %d, %v (details %+v)", size, declared, len(got), readErr, e)
			}
		}
	}
}

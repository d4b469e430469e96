// Package grpcerr turns the node's errors into gRPC statuses and back: the
// one place where a code of the error table (docs/errors.md) meets a gRPC
// code. Every service of switchboard.v1 — the API for backends and the
// client service — answers a failure with [Error], so the same refusal has
// the same gRPC code and the same project code in its details whichever
// service gave it, just as it has the same HTTP status on the HTTP API.
//
// [Limit] bounds what a call may send and refuses more in the same way,
// which connect's own size limit cannot (its refusal carries no details).
//
// It owns the mapping, not the table: codes and their HTTP statuses stay in
// package protocol, and the gRPC code is derived from the HTTP status.
package grpcerr

// Package protocol is Switchboard's wire format: the JSON frames of the
// WebSocket protocol (v1), the publication shape that SSE, polling and the
// history API share, and the one table that turns errors into wire codes,
// HTTP statuses and disconnect codes.
//
// It owns:
//
//   - Error, ErrorFor and the code table (errors.go); Disconnect and
//     DisconnectFor, which also give the WebSocket close code and reason.
//   - Command and DecodeCommand for frames a client sends, and AppendCommand
//     for clients that send them (command.go). Commands are read by a
//     hand-written decoder (decode.go, scan.go) that matches encoding/json
//     value for value but takes keys only as the protocol spells them.
//   - The Append* encoders for every frame the server sends (encode.go).
//     They are hand-written and allocate nothing beyond growing dst, because
//     a publication is encoded once and the same bytes go to every
//     subscriber. Their output is always valid JSON in valid UTF-8 on a
//     single line, so SSE can put it in one data: field as it is.
//   - Frame and DecodeFrame, for clients and tests that read server frames
//     (frame.go).
//   - The golden frames in testdata/frames, which the Go tests and the
//     TypeScript SDK both check against, and testdata/errors.json, the code
//     tables as data, which a test generates and the SDK checks against.
//
// It does not own what the frames mean: channel-name rules, permissions,
// limits and resume belong to the hub; sockets, SSE framing and HTTP
// belong to the transports and the server. It imports only package stream
// and the standard library.
//
// Every function is safe for concurrent use; nothing here keeps state.
package protocol

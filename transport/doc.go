// Package transport holds what Switchboard's transports share at the HTTP
// edge: reading a token from a request, checking origins and answering CORS,
// checking the method, parsing channel lists, cursors and history
// parameters, reading a JSON request body, and writing JSON replies and
// coded JSON errors. Package server's HTTP API uses the same reader and
// writers, so a client and a backend get the same answer to the same
// mistake.
//
// The transports themselves live in the packages below it (ws, sse, poll),
// beside the client's HTTP command endpoints (command); they import this
// package and never each other. The shapes of the JSON bodies belong to
// package protocol.
package transport

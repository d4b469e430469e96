// Package transport holds what Switchboard's transports share at the HTTP
// edge: reading a token from a request, checking origins and answering CORS,
// parsing channel lists, and writing coded JSON errors.
//
// The transports themselves live in the packages below it (ws, sse, poll);
// they import this package and never each other.
package transport

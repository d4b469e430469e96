// Package auth decides who a client is and what it may do.
//
// It owns three things:
//
//   - Verifier turns a JWT into a stream.Identity. The keys are configured
//     (HMAC secrets, PEM public keys, a JWK Set URL), and each key alone
//     decides which algorithms it checks, so "alg: none" and algorithm
//     confusion are refused whatever the token's header says. Mint and
//     MintHMAC make tokens for `switchboard token` and tests.
//   - Policy applies a namespace's access rules (anyone, authenticated,
//     claim, nobody) and the token's channels claim to each subscribe,
//     publish, history and presence request. It satisfies hub.Policy
//     without importing hub.
//   - Origins is the browser-origin allow-list behind the WebSocket upgrade
//     check and CORS.
//
// It does not read tokens out of requests (headers, cookies, query strings
// and the connect frame belong to the transports), does not authenticate the
// HTTP API (that is the server's API key), and never imports hub or the
// transports. Errors wrap the sentinels of package stream, which the
// protocol maps to wire codes.
package auth

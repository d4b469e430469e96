// Package transporttest runs a hub with a transport's handlers on an
// httptest server, the fixture every transport's tests start from: a hub on
// the memory broker with the namespaces of [Namespaces], the
// [testkit.Policy] and, in the transport, the [testkit.Verifier]. [RunHub]
// runs a hub alone, for the tests of the hub, the server and the client,
// and [PublishN] fills a channel.
//
// It is apart from [github.com/switchboardhq/switchboard/internal/testkit]
// because it imports the hub and a broker, which the internal tests of
// those packages (package hub, not hub_test) cannot.
//
// The package is for tests only: nothing outside _test.go files imports it.
package transporttest

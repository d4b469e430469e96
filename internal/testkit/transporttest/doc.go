// Package transporttest runs a hub with a transport's handlers on an
// httptest server, the fixture every transport's tests start from: a hub on
// the memory broker with the namespaces of [Namespaces], the
// [testkit.Policy] and, in the transport, the [testkit.Verifier].
//
// It is apart from [github.com/switchboardhq/switchboard/internal/testkit]
// because it imports the hub and a broker, which the tests of those
// packages cannot.
//
// The package is for tests only: nothing outside _test.go files imports it.
package transporttest

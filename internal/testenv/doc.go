// Package testenv gives Switchboard's tests the real things they run
// against, and the means to break them on purpose.
//
// Integration dependencies are real processes, never stand-ins: a private
// redis-server on a free port, a NATS server with JetStream embedded in the
// test process (the nats-server module: nothing to install), Debian's
// chromium (driven by playwright-core from Node.js) for browser tests, and
// the node and npm packages that drive it. A test asks for one with a
// function that returns it ready to use — Redis, NATS, Chromium, Node,
// NPMPackage — and that, when it is missing, skips
// the test with the reason and what to install, or fails it when the
// environment variable CI is true (see Unavailable): on CI a skipped
// integration test would pass without having run. `make deps` installs
// everything these functions look for.
//
// The clustered deployments a broker may run on come ready too:
// NewRedisCluster (three primaries and three replicas joined by redis-cli),
// NewRedisSentinel (a primary, a replica and three Sentinels) and
// NewNATSCluster (three embedded servers with routes and JetStream), each
// with the means to fail a member as production does, or every server at
// once (paused, killed and restarted on its files, restarted empty). Started
// Proxied, a deployment has a Proxy in front of every server and announces
// it, while its servers reach one another from PeerAddr, which the proxies
// spare: a test cuts its clients off without the deployment failing over.
//
// Proxy is a TCP proxy a test puts between a client and a node so it can
// cut every connection at once, or refuse new ones for a while: a dropped
// network, on demand, without touching the client or the server.
//
// One file per dependency, each with its own helpers. The package is for
// tests only: nothing outside _test.go files imports it.
package testenv

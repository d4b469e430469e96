// Package e2e holds Switchboard's black-box tests: they build the
// switchboard binary, start real nodes on loopback ports, and talk to them
// over the network only, as applications and browsers do.
package e2e

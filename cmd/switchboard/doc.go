// Command switchboard runs and talks to Switchboard nodes.
//
//	switchboard serve     run a node
//	switchboard publish   publish through a node's HTTP API
//	switchboard token     mint a client token for testing
//	switchboard version   print the version
//
// It is wiring only: it turns flags, SWITCHBOARD_* environment variables and
// a YAML file into configuration (settings.go names every key once, for all
// three), builds the broker, hub and server from it, and handles signals.
// What a node does lives in the packages it wires together.
package main

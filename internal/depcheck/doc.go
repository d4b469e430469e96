// Package depcheck holds no code: its test enforces the layering of the
// module (which package may import which) and confines each third-party
// client library to the one package that adapts it, so dependencies keep
// pointing inward as the project grows.
package depcheck

// Package depcheck holds no code: its test enforces the layering of the
// module (which package may import which), so dependencies keep pointing
// inward as the project grows.
package depcheck

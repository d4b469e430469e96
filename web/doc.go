// Package web holds the pages a Switchboard node serves at its root: an
// index that describes the node and its endpoints, and demo pages that talk
// to the node from a plain browser.
//
// It owns files only. Serving them, and everything else about HTTP, is
// package server's business; the files live under static/ and are embedded
// into the binary so a node needs nothing on disk.
package web

package protocol_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/switchboardhq/switchboard/protocol"
)

var update = flag.Bool("update", false, "rewrite the generated files in testdata/ from the tables")

// errorTableFile is the error and disconnect tables as data, for clients
// written in other languages: the TypeScript SDK checks its ErrorCode and
// DisconnectCode against it, as it checks its frames against the golden ones.
const errorTableFile = "testdata/errors.json"

type errorRow struct {
	Code   uint32 `json:"code"`
	Name   string `json:"name"`
	Status int    `json:"status"`
}

type disconnectRow struct {
	Code      uint32 `json:"code"`
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

// errorTable writes the file: one row a line, so that a change of the table
// is a change of the lines it touches.
func errorTable(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	row := func(v any, last bool) {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("    ")
		b.Write(j)
		if !last {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("{\n  \"errors\": [\n")
	codes := protocol.Codes()
	for i, e := range codes {
		row(errorRow{e.Code, e.Message, e.HTTPStatus()}, i == len(codes)-1)
	}
	b.WriteString("  ],\n  \"disconnects\": [\n")
	disconnects := protocol.DisconnectCodes()
	for i, d := range disconnects {
		row(disconnectRow{d.Code, d.Reason, d.Reconnect}, i == len(disconnects)-1)
	}
	b.WriteString("  ]\n}\n")
	return b.Bytes()
}

// TestErrorTableFile fails when testdata/errors.json is not what the tables
// generate; `go test ./protocol -run TestErrorTableFile -update` rewrites it.
func TestErrorTableFile(t *testing.T) {
	want := errorTable(t)
	if !json.Valid(want) {
		t.Fatalf("generated %s is not JSON:\n%s", errorTableFile, want)
	}
	if *update {
		if err := os.WriteFile(errorTableFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(errorTableFile)
	if err != nil {
		t.Fatalf("%v (run go test ./protocol -run TestErrorTableFile -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./protocol -run TestErrorTableFile -update, and commit it\n--- have\n%s--- want\n%s", errorTableFile, got, want)
	}
}

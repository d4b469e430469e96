package protocol_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps protocol at the bottom of the tree: the hub, the
// transports and the clients all import it, so it may import nothing of
// theirs, nor net/http.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		stdlib := !strings.Contains(first, ".")
		if imp == "net/http" || (!stdlib && imp != "github.com/switchboardhq/switchboard/stream") {
			t.Errorf("protocol imports %s; it may import only stream and the standard library (not net/http)", imp)
		}
	}
}

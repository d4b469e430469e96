package web_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/web"
)

// TestEmbedsSDKBundle checks that the binary carries the TypeScript SDK's
// bundle, and only the bundle: the npm build's declarations and dist/ stay out
// of the node. Whether the bundle is what sdk/ts builds to now is checked by
// the SDK's own tests (sdk/ts/test/unit/build.test.ts), which can run esbuild.
func TestEmbedsSDKBundle(t *testing.T) {
	entries, err := fs.ReadDir(web.Files, "static/sdk")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "switchboard.js" {
		t.Fatalf("static/sdk holds %q, want only switchboard.js", names)
	}
	b, err := fs.ReadFile(web.Files, "static/sdk/switchboard.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "// Switchboard client SDK ") || !strings.Contains(string(b), "\nexport {") {
		t.Errorf("static/sdk/switchboard.js is not the SDK's ES module bundle (%d bytes)", len(b))
	}
}

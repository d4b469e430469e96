package e2e_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var grpcurlBuild struct {
	once sync.Once
	path string
	err  error
}

// grpcurl returns a grpcurl built from the module this repository pins
// (go.mod's tool directive), next to the switchboard binary the tests
// built, so it goes away with it. It is built once per test process.
func grpcurl(t *testing.T) string {
	t.Helper()
	grpcurlBuild.once.Do(func() {
		path := filepath.Join(filepath.Dir(binary), "grpcurl")
		cmd := exec.Command("go", "build", "-o", path, "github.com/fullstorydev/grpcurl/cmd/grpcurl")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			grpcurlBuild.err = fmt.Errorf("go build grpcurl: %v\n%s", err, out)
			return
		}
		grpcurlBuild.path = path
	})
	if grpcurlBuild.err != nil {
		t.Fatal(grpcurlBuild.err)
	}
	return grpcurlBuild.path
}

package protocol

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodePublicationFast checks the fast path against encoding/json:
// whatever it accepts, it must read exactly as decodeFrameJSON does.
func FuzzDecodePublicationFast(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "frames", "s_*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"type":"message","channel":"chat:lobby","epoch":"x1","offset":42,"data":{"text":"hi"},"time":1763884800123}`,
		`{"channel":"c","epoch":"e","offset":1,"data":[1, "\u00e9", null],"time":-5,"key":"k\n"}`,
		`{"type":"message","offset":18446744073709551615,"time":null,"data":null}`,
		`{"type":"message","offset":-1,"data":1}`,
		`{"type":"message","time":9223372036854775808,"data":1}`,
		`{"Type":"message","data":1}`,
		`{"type":"message","data":1,"data":"two","channel":null}`,
		`{"type":"message","channel":"\ud800x","data":"\xff"}`,
		` {"type":"ping"} `,
		`{"type":"message","data":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodePublicationFast(b)
		if !ok {
			return
		}
		want, err := decodeFrameJSON(b)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", b, err)
		}
		if d := cmp.Diff(want, fast); d != "" {
			t.Fatalf("frame %q read differently (-json +fast):\n%s", b, d)
		}
	})
}

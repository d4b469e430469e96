package stream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

func TestValidateKey(t *testing.T) {
	for _, ok := range []string{"", "k-1", strings.Repeat("é", stream.MaxKeyLen/2), "\ufffd"} {
		if err := stream.ValidateKey(ok); err != nil {
			t.Errorf("ValidateKey(%q) = %v", ok, err)
		}
	}
	for _, tc := range []struct{ key, mention string }{
		{strings.Repeat("k", stream.MaxKeyLen+1), "257 bytes, at most 256"},
		{strings.Repeat("k", 60_000), "60000 bytes"},
		{"\xff", "UTF-8"},
		{"\xfe", "UTF-8"},
		{"a\xed\xa0\x80", "UTF-8"}, // a surrogate, encoded
	} {
		err := stream.ValidateKey(tc.key)
		if !errors.Is(err, stream.ErrBadRequest) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ValidateKey(%.20q) = %v, want a bad request mentioning %q", tc.key, err, tc.mention)
		}
	}
}

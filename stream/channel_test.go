package stream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

const channelChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.@/=+-"

func TestValidateChannel(t *testing.T) {
	good := []string{
		"a",
		"chat:lobby",
		"user:42/inbox",
		"a@b.c=d+e-f_g",
		":leading-colon",
		"ns:with:more:colons",
		channelChars,
		strings.Repeat("x", stream.MaxChannelLen),
	}
	for _, name := range good {
		if err := stream.ValidateChannel(name); err != nil {
			t.Errorf("ValidateChannel(%q) = %v, want nil", name, err)
		}
	}
	bad := []struct{ name, mention string }{
		{"", "empty"},
		{strings.Repeat("x", stream.MaxChannelLen+1), "256 bytes"},
		{"chat lobby", "at 4"},
		{"chat:lobby!", "'!'"},
		{"caf\u00e9", "at 3"},
		{"a\x00", "at 1"},
		{"a\nb", "at 1"},
		{"a*", "at 1"},
		{"a#b", "at 1"},
	}
	for _, tt := range bad {
		err := stream.ValidateChannel(tt.name)
		if !errors.Is(err, stream.ErrInvalidChannel) {
			t.Errorf("ValidateChannel(%q) = %v, want ErrInvalidChannel", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ValidateChannel(%q) = %q, which does not mention %q", tt.name, err, tt.mention)
		}
	}
}

func TestNamespaceOf(t *testing.T) {
	tests := map[string]string{
		"chat:lobby":     "chat",
		"chat:a:b":       "chat",
		"lobby":          "",
		":x":             "",
		"chat:":          "chat",
		"":               "",
		"user@x.com:box": "user@x.com",
	}
	for name, want := range tests {
		if got := stream.NamespaceOf(name); got != want {
			t.Errorf("NamespaceOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func FuzzValidateChannel(f *testing.F) {
	for _, s := range []string{"", "chat:lobby", channelChars, "a b", "é", strings.Repeat("z", 255), strings.Repeat("z", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := stream.ValidateChannel(name)
		allowed := len(name) >= 1 && len(name) <= stream.MaxChannelLen
		for i := 0; i < len(name) && allowed; i++ {
			allowed = strings.IndexByte(channelChars, name[i]) >= 0
		}
		if allowed != (err == nil) {
			t.Fatalf("ValidateChannel(%q) = %v; by the rules it should be allowed: %v", name, err, allowed)
		}
		if err != nil && !errors.Is(err, stream.ErrInvalidChannel) {
			t.Fatalf("ValidateChannel(%q) = %v, which does not wrap ErrInvalidChannel", name, err)
		}
	})
}

package stream

import (
	"fmt"
	"strings"
)

// MaxChannelLen is the longest channel name, in bytes.
const MaxChannelLen = 255

// NamespaceSeparator splits a channel name into namespace and name.
const NamespaceSeparator = ':'

// chanChars marks the bytes allowed in a channel name: [A-Za-z0-9_:.@/=+-].
var chanChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_:.@/=+-" {
		t[c] = true
	}
	return t
}()

// ValidateChannel checks a channel name against the naming rules. The error
// wraps ErrInvalidChannel and says what is wrong.
func ValidateChannel(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidChannel)
	}
	if len(name) > MaxChannelLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidChannel, len(name), MaxChannelLen)
	}
	for i := 0; i < len(name); i++ {
		if !chanChars[name[i]] {
			return fmt.Errorf("%w: byte %q at %d is not one of [A-Za-z0-9_:.@/=+-]", ErrInvalidChannel, name[i], i)
		}
	}
	return nil
}

// NamespaceOf returns the part of a channel name before its first ':', or ""
// for a channel in the default namespace.
func NamespaceOf(name string) string {
	if i := strings.IndexByte(name, NamespaceSeparator); i >= 0 {
		return name[:i]
	}
	return ""
}

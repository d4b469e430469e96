package stream

import (
	"fmt"
	"unicode/utf8"
)

// MaxKeyLen is the longest idempotency key, in bytes. A key is remembered
// for its whole window (DefaultKeyTTL), so its length is memory a client
// makes the node hold: 256 bytes is room for a UUID, a hash or a composite
// "user:device:sequence" key, and little more.
const MaxKeyLen = 256

// ValidateKey checks an idempotency key: at most MaxKeyLen bytes of valid
// UTF-8 (the empty key is no key). The error wraps ErrBadRequest and says
// what is wrong. Every broker checks it in Publish, so it holds however a
// publication came in.
//
// Invalid UTF-8 is refused, not repaired: two keys that differ only in
// invalid bytes would otherwise become the same key, and the second
// publication would be answered as a duplicate of the first and never
// stored.
func ValidateKey(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: idempotency key of %d bytes, at most %d", ErrBadRequest, len(key), MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: idempotency key is not valid UTF-8", ErrBadRequest)
	}
	return nil
}

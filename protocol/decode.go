package protocol

import (
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// Commands are read by a small hand-written decoder rather than
// encoding/json, for two reasons. Every frame a client sends passes through
// it, and it costs a fraction of reflection. And it matches keys exactly:
// encoding/json would also take "Type" or "ID", which no client should send
// and the TypeScript SDK would never read back.
//
// Values follow encoding/json's rules exactly, and FuzzDecodeCommandOracle
// holds it to them: the same syntax, strings unescaped the same way (invalid
// UTF-8 and lone surrogates would become U+FFFD, but DecodeCommand refuses
// frames holding either, with CheckText), null leaves a field unset, a
// value of the wrong kind is a type error that does not stop the decoding,
// and the last of duplicate keys wins.

// typeError is a value of the wrong kind for its field.
type typeError struct {
	field, want, got string
}

func (e *typeError) Error() string {
	return fmt.Sprintf("%s must be %s, not %s", e.field, e.want, e.got)
}

func (r *reader) wrongType(field, want string, start int) {
	if r.typeErr != nil {
		return
	}
	got := "an object"
	switch v := r.b[start:r.i]; v[0] {
	case '"':
		got = "a string"
	case '[':
		got = "an array"
	case 't', 'f':
		got = string(v)
	case '{':
	default:
		got = "the number " + clip(string(v), 32)
	}
	r.typeErr = &typeError{field: field, want: want, got: got}
}

// stringField reads a string into *dst; null leaves *dst alone.
func (r *reader) stringField(field string, dst *string) error {
	switch r.peek() {
	case '"':
		b, err := r.appendString(r.scratch[:0])
		if err != nil {
			return err
		}
		*dst = string(b)
		return nil
	case 'n':
		return r.literal("null")
	}
	start := r.i
	if err := r.skip(); err != nil {
		return err
	}
	r.wrongType(field, "a string", start)
	return nil
}

// uintField reads a non-negative integer into *dst; null leaves it alone.
func (r *reader) uintField(field string, dst *uint64) error {
	v, _, ok, err := r.integer(field, "a non-negative integer", false)
	if ok {
		*dst = v
	}
	return err
}

// intField reads an integer into *dst; null leaves it alone.
func (r *reader) intField(field string, dst *int) error {
	start := r.i
	v, neg, ok, err := r.integer(field, "an integer", true)
	if !ok {
		return err
	}
	const maxInt = uint64(^uint(0) >> 1)
	switch {
	case !neg && v <= maxInt:
		*dst = int(v)
	case neg && v <= maxInt+1:
		*dst = int(-v)
	default:
		r.wrongType(field, "an integer", start)
	}
	return nil
}

// integer reads a whole number of at most 64 bits, giving its magnitude and
// sign. ok is false when there is nothing to store: null, or a value of
// another kind, a fraction, an exponent or an overflow, which are type
// errors as they are for encoding/json.
func (r *reader) integer(field, want string, signed bool) (v uint64, neg, ok bool, err error) {
	start := r.i
	c := r.peek()
	if c == 'n' {
		return 0, false, false, r.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		if err := r.skip(); err != nil {
			return 0, false, false, err
		}
		r.wrongType(field, want, start)
		return 0, false, false, nil
	}
	if err := r.number(); err != nil {
		return 0, false, false, err
	}
	lit := r.b[start:r.i]
	if lit[0] == '-' {
		neg, lit = true, lit[1:]
	}
	fits := !neg || signed
	for _, d := range lit {
		if !fits {
			break
		}
		if d < '0' || d > '9' || v > (1<<64-1-uint64(d-'0'))/10 {
			fits = false
			break
		}
		v = v*10 + uint64(d-'0')
	}
	if !fits {
		r.wrongType(field, want, start)
		return 0, false, false, nil
	}
	return v, neg, true, nil
}

// boolField reads true or false into *dst; null leaves it alone.
func (r *reader) boolField(field string, dst *bool) error {
	switch r.peek() {
	case 't':
		*dst = true
		return r.literal("true")
	case 'f':
		*dst = false
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	start := r.i
	if err := r.skip(); err != nil {
		return err
	}
	r.wrongType(field, "true or false", start)
	return nil
}

// decodeCommand reads b into c. A value of the wrong type does not stop it,
// as it does not stop encoding/json: c gets what could be read, and the
// first type error is returned if the rest is valid JSON.
func decodeCommand(b []byte, c *Command) (*typeError, error) {
	r := reader{b: b}
	r.ws()
	if r.peek() != '{' {
		return nil, fmt.Errorf("%w: a command is one JSON object", stream.ErrBadRequest)
	}
	more, err := r.openObject()
	for more && err == nil {
		var key []byte
		if key, err = r.key(); err != nil {
			break
		}
		if err = r.commandField(c, key); err != nil {
			break
		}
		more, err = r.next('}')
	}
	if err == nil {
		r.ws()
		if r.i < len(r.b) {
			err = r.fail("want the end after the object")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", stream.ErrBadRequest, err)
	}
	return r.typeErr, nil
}

func (r *reader) commandField(c *Command, key []byte) error {
	switch string(key) {
	case "type":
		return r.typeField(c)
	case "id":
		return r.uintField("id", &c.ID)
	case "token":
		return r.stringField("token", &c.Token)
	case "channel":
		return r.stringField("channel", &c.Channel)
	case "since":
		return r.sinceField(c)
	case "data":
		start := r.i
		if err := r.skip(); err != nil {
			return err
		}
		c.Data = compact(make([]byte, 0, r.i-start), r.b[start:r.i])
		return nil
	case "key":
		return r.stringField("key", &c.Key)
	case "limit":
		return r.intField("limit", &c.Limit)
	case "reverse":
		return r.boolField("reverse", &c.Reverse)
	}
	return r.skip()
}

// typeField reads the type, sharing the constant for known types so that
// the common case allocates nothing.
func (r *reader) typeField(c *Command) error {
	if r.peek() != '"' {
		return r.stringField("type", &c.Type)
	}
	b, err := r.appendString(r.scratch[:0])
	if err != nil {
		return err
	}
	switch string(b) {
	case TypeConnect:
		c.Type = TypeConnect
	case TypeSubscribe:
		c.Type = TypeSubscribe
	case TypeUnsubscribe:
		c.Type = TypeUnsubscribe
	case TypePublish:
		c.Type = TypePublish
	case TypeHistory:
		c.Type = TypeHistory
	case TypePresence:
		c.Type = TypePresence
	case TypeRefresh:
		c.Type = TypeRefresh
	case TypePong:
		c.Type = TypePong
	default:
		c.Type = string(b)
	}
	return nil
}

func (r *reader) sinceField(c *Command) error {
	switch r.peek() {
	case '{':
		p := new(stream.Position)
		c.Since = p
		more, err := r.openObject()
		for more && err == nil {
			var key []byte
			if key, err = r.key(); err != nil {
				break
			}
			switch string(key) {
			case "epoch":
				err = r.stringField("since.epoch", &p.Epoch)
			case "offset":
				err = r.uintField("since.offset", &p.Offset)
			default:
				err = r.skip()
			}
			if err == nil {
				more, err = r.next('}')
			}
		}
		return err
	case 'n':
		c.Since = nil
		return r.literal("null")
	}
	start := r.i
	if err := r.skip(); err != nil {
		return err
	}
	r.wrongType("since", "an object", start)
	return nil
}

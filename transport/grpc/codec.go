package grpc

import (
	"bytes"
	encjson "encoding/json"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The codecs replace connect's "proto" and "json" ones on the handlers of
// this package, for two reasons.
//
// Sending: a publication is encoded once per format by the hub (see
// encode.go), and the stream sends those bytes as they are. connect marshals
// every message it sends with the call's codec, so the codecs pass a
// *frame (bytes already encoded in the codec's format) through untouched
// and marshal anything else as connect's own codecs do.
//
// Receiving: connect answers a request it cannot unmarshal with
// InvalidArgument before any handler code runs, so the answer could not
// carry the project's error code. The codecs unmarshal into a *raw instead,
// which keeps the bytes, and the handler decodes them itself (raw.decode)
// and refuses a malformed message like every other bad input.

// frame is one message already in the codec's wire format.
type frame struct{ b []byte }

// raw is a request as it came off the wire, in the format of the codec
// that read it.
type raw struct {
	b    []byte
	json bool
}

// codec is connect's codec of one name: "proto" (binary protobuf) or
// "json" (protojson). It is stateless and safe for concurrent use.
type codec struct {
	name string
	json bool
}

var (
	protoCodec = &codec{name: "proto"}
	// Both names connect registers for JSON by default.
	jsonCodec        = &codec{name: "json", json: true}
	jsonCharsetCodec = &codec{name: "json; charset=utf-8", json: true}
)

func (c *codec) Name() string { return c.name }

func (c *codec) Marshal(m any) ([]byte, error) {
	return c.MarshalAppend(nil, m)
}

func (c *codec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	if f, ok := m.(*frame); ok {
		return append(dst, f.b...), nil
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("grpc: cannot marshal %T", m)
	}
	if c.json {
		return protojson.MarshalOptions{}.MarshalAppend(dst, pm)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, pm)
}

// MarshalStable and IsBinary make the codec usable for Connect's GET
// requests, as connect's own are.
func (c *codec) MarshalStable(m any) ([]byte, error) {
	if !c.json {
		if pm, ok := m.(proto.Message); ok {
			return proto.MarshalOptions{Deterministic: true}.Marshal(pm)
		}
	}
	b, err := c.Marshal(m)
	if err != nil || !c.json {
		return b, err
	}
	var out bytes.Buffer
	if err := encjson.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (c *codec) IsBinary() bool { return !c.json }

func (c *codec) Unmarshal(b []byte, m any) error {
	if r, ok := m.(*raw); ok {
		// connect reuses the buffer b once Unmarshal returns.
		r.b = append(r.b[:0], b...)
		r.json = c.json
		return nil
	}
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("grpc: cannot unmarshal into %T", m)
	}
	return decode(b, c.json, pm)
}

// decode reads a request message in binary protobuf or protojson. Unknown
// fields are kept (binary) or skipped (JSON), as connect does, so clients
// built from a newer schema still call an older node.
func decode(b []byte, json bool, m proto.Message) error {
	if !json {
		return proto.Unmarshal(b, m)
	}
	if len(b) == 0 {
		return errors.New("an empty body is not a JSON object")
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

var (
	_ connect.Codec = (*codec)(nil)
	_ interface {
		MarshalAppend([]byte, any) ([]byte, error)
		MarshalStable(any) ([]byte, error)
		IsBinary() bool
	} = (*codec)(nil)
)

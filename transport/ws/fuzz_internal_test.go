package ws

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// maskedFrame builds a client frame as a browser sends it.
func maskedFrame(fin bool, op byte, payload []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

// FuzzReadMessage feeds arbitrary bytes to the frame reader as if a client
// sent them after the handshake: it must never panic, never return a
// message larger than the limit, and fail only with a protocol error or the
// end of input. The
// seeds cover every opcode, fragmentation (with control frames between the
// fragments) and the size rule at its edges.
func FuzzReadMessage(f *testing.F) {
	golden, _ := filepath.Glob("../../protocol/testdata/frames/c_*.json")
	for _, p := range golden {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(maskedFrame(true, opText, b))
			half := len(b) / 2
			f.Add(append(maskedFrame(false, opText, b[:half]), maskedFrame(true, 0, b[half:])...))
			f.Add(slices.Concat(maskedFrame(false, opText, b[:half]), maskedFrame(true, opPing, []byte("p")), maskedFrame(true, 0, b[half:])))
		}
	}
	for _, op := range []byte{0, opText, 0x2, 0x3, 0x7, opClose, opPing, opPong, 0xB, 0xF} {
		f.Add(maskedFrame(true, op, []byte("hi")))
		f.Add(maskedFrame(false, op, []byte("hi")))
		f.Add(hugeHeader(op, 1<<40))
	}
	f.Add(maskedFrame(true, opClose, []byte{3, 232}))
	f.Add(maskedFrame(true, opText, make([]byte, 1025)))
	f.Add(maskedFrame(true, 0x2, make([]byte, 1025)))
	f.Add(append(maskedFrame(false, opText, make([]byte, 600)), maskedFrame(true, 0, make([]byte, 600))...))
	f.Add(append(maskedFrame(false, 0x2, []byte{1}), maskedFrame(true, 0, []byte{2})...))
	f.Add(hugeHeader(opText, discardLimit+1))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Add([]byte{0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4})

	const limit = 1024
	f.Fuzz(func(t *testing.T, in []byte) {
		server, client := net.Pipe()
		client.Close() // replies to pings fail quietly; reads end at the input's end
		defer server.Close()
		c := &conn{h: &Handler{maxFrame: limit, rate: 1, burst: 1 << 20}, nc: server, pre: in}
		c.h.cfg.WriteTimeout = 1
		for range 64 {
			msg, _, err := c.readMessage()
			if err != nil {
				var pe protocolError
				if errors.As(err, &pe) && !pe.fatal {
					continue
				}
				return
			}
			if len(msg) > limit {
				t.Fatalf("message of %d bytes passed a %d-byte limit", len(msg), limit)
			}
		}
	})
}

// hugeHeader is a masked frame header declaring n bytes, without them.
func hugeHeader(op byte, n uint64) []byte {
	b := binary.BigEndian.AppendUint64([]byte{0x80 | op, 0x80 | 127}, n)
	return append(b, 1, 2, 3, 4)
}

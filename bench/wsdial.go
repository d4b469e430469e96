package bench

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/protocol"
)

// connectDialer opens WebSocket connections for the connect scenario as
// cheaply as a client can, so that what limits the rate is the node: the
// upgrade request, connect and subscribe go out in one write (the node
// must take frames sent with the request head), and the 101 and both
// replies are read into the caller's buffer, usually with one read. The
// connection is then held, not read: the scenario only counts it.
//
// Every connection still checks what a client must: the 101 and its
// Sec-WebSocket-Accept, and a subscribe reply with its id and no error.
type connectDialer struct {
	addr    string      // host:port
	tls     *tls.Config // nil: plain TCP
	src     *sourceDialer
	timeout time.Duration // for the whole exchange
	// requests holds, per channel, the upgrade request followed by the
	// connect and subscribe frames; accept is the Sec-WebSocket-Accept
	// line the request's key calls for.
	requests map[string][]byte
	accept   []byte
}

// wsKey is the Sec-WebSocket-Key every connection of the scenario sends:
// the node computes the answer as for any key, and the client checks it
// without hashing per connection.
const wsKey = "c3dpdGNoYm9hcmQtYmVuY2g="

func newConnectDialer(nodeURL string, tc *tls.Config, src *sourceDialer, channels []string, timeout time.Duration) *connectDialer {
	host := nodeURL[strings.Index(nodeURL, "://")+3:]
	d := &connectDialer{addr: host, tls: tc, src: src, timeout: timeout, requests: make(map[string][]byte, len(channels))}
	sum := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	d.accept = []byte("\r\nSec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n")
	head := "GET /connection/websocket HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	connect := maskedText(nil, protocol.AppendCommand(nil, protocol.Command{Type: "connect", ID: 1}))
	for _, ch := range channels {
		b := append([]byte(head), connect...)
		d.requests[ch] = maskedText(b, protocol.AppendCommand(nil, protocol.Command{Type: "subscribe", ID: 2, Channel: ch}))
	}
	return d
}

// maskedText appends p as one masked text frame. The mask is fixed: the
// node unmasks every frame the same way whatever its key.
func maskedText(dst, p []byte) []byte {
	mask := [4]byte{0x5b, 0x1e, 0xc3, 0x77}
	dst = append(dst, 0x81)
	switch {
	case len(p) < 126:
		dst = append(dst, 0x80|byte(len(p)))
	default:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(p)))
	}
	dst = append(dst, mask[:]...)
	for i, c := range p {
		dst = append(dst, c^mask[i%4])
	}
	return dst
}

// dial connects, upgrades, connects and subscribes to channel, returning
// the connection once the subscribe reply arrived. buf is the caller's
// scratch space for the replies (1 KiB is plenty).
func (d *connectDialer) dial(ctx context.Context, channel string, buf []byte) (net.Conn, error) {
	deadline := time.Now().Add(d.timeout)
	nd := d.src.dialer()
	var nc net.Conn
	var err error
	if d.tls != nil {
		td := &tls.Dialer{NetDialer: nd, Config: d.tls}
		nc, err = td.DialContext(ctx, "tcp", d.addr)
	} else {
		nc, err = nd.DialContext(ctx, "tcp", d.addr)
	}
	if err != nil {
		return nil, err
	}
	_ = nc.SetReadDeadline(deadline)
	if _, err := nc.Write(d.requests[channel]); err != nil {
		nc.Close()
		return nil, err
	}
	if err := d.awaitSubscribed(nc, buf); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetReadDeadline(time.Time{})
	return nc, nil
}

var errHeadTooLong = errors.New("response head longer than the read buffer")

// awaitSubscribed reads the 101 and then frames until the subscribe reply.
func (d *connectDialer) awaitSubscribed(nc net.Conn, buf []byte) error {
	n, start := 0, -1 // start: where the frames begin, once the head ended
	for {
		m, err := nc.Read(buf[n:])
		n += m
		if m == 0 && err != nil {
			return err
		}
		if start < 0 {
			i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if i < 0 {
				if n == len(buf) {
					return errHeadTooLong
				}
				continue
			}
			head := buf[:i+2]
			if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
				line, _, _ := bytes.Cut(head, []byte("\r\n"))
				return fmt.Errorf("upgrade answered %q", line)
			}
			if !bytes.Contains(head, d.accept) {
				return errors.New("bad Sec-WebSocket-Accept")
			}
			start = i + 4
		}
		done, used, err := subscribeReply(buf[start:n])
		if done || err != nil {
			return err
		}
		// Keep what was not a whole frame at the front, for the next read.
		n = copy(buf, buf[start+used:n])
		start = 0
		if n == len(buf) {
			return fmt.Errorf("a frame longer than %d bytes", len(buf))
		}
	}
}

// subscribeReply reads the whole frames in b (from the server: unmasked)
// and reports whether one is the subscribe reply, and how many bytes the
// frames it read took. A close, or a reply with an error, is an error.
func subscribeReply(b []byte) (done bool, used int, err error) {
	for {
		p := b[used:]
		if len(p) < 2 {
			return false, used, nil
		}
		hl, size := 2, int(p[1]&0x7f)
		switch size {
		case 126:
			if len(p) < 4 {
				return false, used, nil
			}
			hl, size = 4, int(binary.BigEndian.Uint16(p[2:]))
		case 127:
			return false, used, errors.New("a frame over 64 KiB before the subscribe reply")
		}
		if len(p) < hl+size {
			return false, used, nil
		}
		payload := p[hl : hl+size]
		used += hl + size
		switch op := p[0] & 0x0f; op {
		case 0x8:
			return false, used, fmt.Errorf("closed before the subscribe reply: %q", payload)
		case 0x1:
		default:
			continue // ping, pong or other control frames
		}
		f, err := protocol.DecodeFrame(payload)
		if err != nil {
			return false, used, err
		}
		if f.Error != nil {
			return false, used, fmt.Errorf("%s: %w", f.Type, f.Error)
		}
		if f.Type == "subscribe" && f.ID == 2 {
			return true, used, nil
		}
	}
}

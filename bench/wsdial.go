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
// cheaply as a client can, so that what limits the rate is the node: no
// goroutine, timer or buffer of its own per connection, the replies read
// into the caller's buffer. Pipelined, the upgrade request, connect and
// subscribe go out in one write, and the 101 and both replies come back
// together: the node takes frames sent with the request head, though RFC
// 6455 (4.1) says a client must wait for the 101 before sending, and
// browsers do. Stepwise, the client waits for the 101, then for each
// reply, before its next write, as a browser does. The connection is then
// held, not read: the scenario only counts it.
//
// Every connection still checks what a client must: the 101 and its
// Sec-WebSocket-Accept, and a subscribe reply with its id and no error.
type connectDialer struct {
	addr     string      // host:port
	tls      *tls.Config // nil: plain TCP
	src      *sourceDialer
	timeout  time.Duration // for the whole exchange
	stepwise bool
	// head is the upgrade request, connect the connect frame, and
	// subscribe the subscribe frame for each channel; accept is the
	// Sec-WebSocket-Accept line the request's key calls for. pipelined
	// holds the three together, per channel.
	head, connect        []byte
	subscribe, pipelined map[string][]byte
	accept               []byte
}

// wsKey is the Sec-WebSocket-Key every connection of the scenario sends:
// the node computes the answer as for any key, and the client checks it
// without hashing per connection.
const wsKey = "c3dpdGNoYm9hcmQtYmVuY2g="

func newConnectDialer(nodeURL string, tc *tls.Config, src *sourceDialer, channels []string, timeout time.Duration, stepwise bool) *connectDialer {
	host := nodeURL[strings.Index(nodeURL, "://")+3:]
	d := &connectDialer{addr: host, tls: tc, src: src, timeout: timeout, stepwise: stepwise,
		subscribe: make(map[string][]byte, len(channels)), pipelined: make(map[string][]byte, len(channels))}
	sum := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	d.accept = []byte("\r\nSec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n")
	d.head = []byte("GET /connection/websocket HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	d.connect = maskedText(nil, protocol.AppendCommand(nil, protocol.Command{Type: "connect", ID: 1}))
	for _, ch := range channels {
		sub := maskedText(nil, protocol.AppendCommand(nil, protocol.Command{Type: "subscribe", ID: 2, Channel: ch}))
		d.subscribe[ch] = sub
		d.pipelined[ch] = append(append(append([]byte(nil), d.head...), d.connect...), sub...)
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
	if err := d.exchange(nc, channel, buf); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetReadDeadline(time.Time{})
	return nc, nil
}

func (d *connectDialer) exchange(nc net.Conn, channel string, buf []byte) error {
	r := replyReader{nc: nc, buf: buf}
	if !d.stepwise {
		if _, err := nc.Write(d.pipelined[channel]); err != nil {
			return err
		}
		if err := r.switching(d.accept); err != nil {
			return err
		}
		return r.reply(2)
	}
	steps := []struct {
		out []byte
		id  uint64
	}{{d.head, 0}, {d.connect, 1}, {d.subscribe[channel], 2}}
	for _, s := range steps {
		if _, err := nc.Write(s.out); err != nil {
			return err
		}
		var err error
		if s.id == 0 {
			err = r.switching(d.accept)
		} else {
			err = r.reply(s.id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// replyReader reads the node's answers into buf: buf[off:n] is what was
// read and not yet taken.
type replyReader struct {
	nc     net.Conn
	buf    []byte
	off, n int
}

// fill reads more, keeping what was not taken at the front.
func (r *replyReader) fill() error {
	if r.off > 0 {
		r.n = copy(r.buf, r.buf[r.off:r.n])
		r.off = 0
	}
	if r.n == len(r.buf) {
		return fmt.Errorf("a response head or frame longer than %d bytes", len(r.buf))
	}
	m, err := r.nc.Read(r.buf[r.n:])
	r.n += m
	if m == 0 && err != nil {
		return err
	}
	return nil
}

// switching takes the 101 and checks its accept line.
func (r *replyReader) switching(accept []byte) error {
	for {
		b := r.buf[r.off:r.n]
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			head := b[:i+2]
			if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
				line, _, _ := bytes.Cut(head, []byte("\r\n"))
				return fmt.Errorf("upgrade answered %q", line)
			}
			if !bytes.Contains(head, accept) {
				return errors.New("bad Sec-WebSocket-Accept")
			}
			r.off += i + 4
			return nil
		}
		if err := r.fill(); err != nil {
			return err
		}
	}
}

// reply takes frames until the reply to command id.
func (r *replyReader) reply(id uint64) error {
	for {
		done, used, err := replyIn(r.buf[r.off:r.n], id)
		r.off += used
		if done || err != nil {
			return err
		}
		if err := r.fill(); err != nil {
			return err
		}
	}
}

// replyIn reads the whole frames in b (from the server: unmasked) and
// reports whether one is the reply to command id, and how many bytes the
// frames it read took. A close, or a reply with an error, is an error.
func replyIn(b []byte, id uint64) (done bool, used int, err error) {
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
			return false, used, fmt.Errorf("a frame over 64 KiB before the reply to %d", id)
		}
		if len(p) < hl+size {
			return false, used, nil
		}
		payload := p[hl : hl+size]
		used += hl + size
		switch op := p[0] & 0x0f; op {
		case 0x8:
			return false, used, fmt.Errorf("closed before the reply to %d: %q", id, payload)
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
		if f.ID == id {
			return true, used, nil
		}
	}
}

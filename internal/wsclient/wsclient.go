package wsclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Opcodes of the frames a Conn returns.
const (
	OpText   = 0x1
	OpBinary = 0x2
	OpClose  = 0x8
	OpPing   = 0x9
	OpPong   = 0xA
)

// CloseError is returned by ReadMessage when the server closed the
// connection with a close frame.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket closed: %d %s", e.Code, e.Reason) }

// Conn is one client connection. ReadMessage must be called from one
// goroutine; writes are safe from several.
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
}

// Options tune Dial.
type Options struct {
	// Header is added to the upgrade request (Origin, Cookie, ...).
	Header http.Header
	// Dialer dials the TCP connection; default net.Dialer.
	Dialer *net.Dialer
	// DialContext, when set, dials the TCP connection instead of Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// ReadBufferSize sizes the read buffer; default 4096.
	ReadBufferSize int
}

// Dial opens a WebSocket connection to a ws:// URL.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, *http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "http" {
		return nil, nil, fmt.Errorf("wsclient: unsupported scheme %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	dial := opts.DialContext
	if dial == nil {
		d := opts.Dialer
		if d == nil {
			d = &net.Dialer{}
		}
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", host)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	var req strings.Builder
	path := u.RequestURI()
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", path, u.Host, k)
	for name, vs := range opts.Header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, nil, err
	}
	size := opts.ReadBufferSize
	if size <= 0 {
		size = 4096
	}
	br := bufio.NewReaderSize(nc, size)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		nc.Close()
		return nil, resp, fmt.Errorf("wsclient: handshake status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		nc.Close()
		return nil, resp, errors.New("wsclient: bad Sec-WebSocket-Accept")
	}
	_ = nc.SetDeadline(time.Time{})
	return &Conn{nc: nc, br: br}, resp, nil
}

// NetConn returns the underlying connection (to set deadlines or cut it).
func (c *Conn) NetConn() net.Conn { return c.nc }

// WriteText sends one masked text frame.
func (c *Conn) WriteText(p []byte) error { return c.WriteFrame(OpText, p) }

// WriteFrame sends one masked frame with the given opcode.
func (c *Conn) WriteFrame(op byte, p []byte) error {
	buf := make([]byte, 0, 14+len(p))
	buf = append(buf, 0x80|op)
	switch n := len(p); {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n <= 0xFFFF:
		buf = append(buf, 0x80|126)
		buf = binary.BigEndian.AppendUint16(buf, uint16(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	buf = append(buf, mask[:]...)
	start := len(buf)
	buf = append(buf, p...)
	for i := range p {
		buf[start+i] ^= mask[i&3]
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(buf)
	return err
}

// ReadMessage returns the next data message, answering pings and
// reassembling fragments. A close frame ends it with a *CloseError.
func (c *Conn) ReadMessage() (op byte, payload []byte, err error) {
	var msg []byte
	var msgOp byte
	for {
		fin, op, p, err := c.readFrame()
		if err != nil {
			return 0, nil, err
		}
		switch op {
		case OpPing:
			if err := c.WriteFrame(OpPong, p); err != nil {
				return 0, nil, err
			}
			continue
		case OpPong:
			continue
		case OpClose:
			ce := &CloseError{Code: 1005}
			if len(p) >= 2 {
				ce.Code = binary.BigEndian.Uint16(p)
				ce.Reason = string(p[2:])
			}
			_ = c.WriteFrame(OpClose, p[:min(len(p), 2)])
			return 0, nil, ce
		case 0: // continuation
			msg = append(msg, p...)
		default:
			msgOp, msg = op, p
		}
		if fin {
			return msgOp, msg, nil
		}
		if op != 0 {
			msg = append([]byte(nil), p...)
		}
	}
}

// ReadFrame returns the next frame as it came, control frames included,
// without answering or reassembling anything. Use it or ReadMessage, not
// both on one message.
func (c *Conn) ReadFrame() (fin bool, op byte, payload []byte, err error) { return c.readFrame() }

func (c *Conn) readFrame() (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(c.br, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(c.br, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 {
		return false, 0, nil, errors.New("wsclient: server frame is masked")
	}
	if n > 64<<20 {
		return false, 0, nil, fmt.Errorf("wsclient: frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	return
}

// Close closes the connection without a close handshake.
func (c *Conn) Close() error { return c.nc.Close() }

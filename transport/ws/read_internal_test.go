package ws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
)

// countingConn counts the reads the frame reader makes of the socket.
type countingConn struct {
	net.Conn
	reads atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// readerConn is a connection whose reader reads what send writes, one
// write at a time (net.Pipe hands a read at most one write); send(nil)
// closes the client's side once the writes before it are read.
func readerConn(t *testing.T, limit int) (*conn, *countingConn, func(b []byte)) {
	t.Helper()
	server, client := net.Pipe()
	cc := &countingConn{Conn: server}
	c := &conn{h: &Handler{maxFrame: limit, rate: 1, burst: 1 << 20}, nc: cc}
	c.h.cfg.WriteTimeout = 1
	writes := make(chan []byte, 64)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer client.Close()
		for {
			select {
			case b := <-writes:
				if b == nil {
					return
				}
				if _, err := client.Write(b); err != nil {
					return
				}
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); server.Close(); <-done })
	return c, cc, func(b []byte) {
		select {
		case writes <- b:
		case <-stop:
		}
	}
}

// A small frame costs one read of the socket, and several frames that
// arrive together cost one between them: the reader reads into a buffer
// instead of reading the header, the extended length and mask, and the
// payload separately.
func TestReadMessageReadsOncePerArrival(t *testing.T) {
	c, cc, send := readerConn(t, 1<<20)
	send(maskedFrame(true, opText, []byte(`{"type":"pong"}`)))
	msg, _, err := c.readMessage()
	if err != nil || string(msg) != `{"type":"pong"}` {
		t.Fatalf("readMessage = %q, %v", msg, err)
	}
	if n := cc.reads.Load(); n != 1 {
		t.Fatalf("one frame took %d reads of the socket, want 1", n)
	}

	var batch []byte
	for i := range 20 {
		batch = append(batch, maskedFrame(true, opText, []byte{'a' + byte(i)})...)
	}
	send(batch)
	for i := range 20 {
		msg, _, err := c.readMessage()
		if err != nil || string(msg) != string(rune('a'+i)) {
			t.Fatalf("message %d = %q, %v", i, msg, err)
		}
	}
	if n := cc.reads.Load(); n != 2 {
		t.Fatalf("20 frames in one arrival took %d reads after the first frame's one, want 1", n-1)
	}
	if len(c.pre) != 0 {
		t.Fatalf("%d bytes left over", len(c.pre))
	}
	c.releaseBuf()
	if c.rbuf != nil {
		t.Fatal("an emptied buffer was kept")
	}
}

// Frames cut anywhere — inside the header, the extended length, the mask
// or the payload, several frames per piece — come out whole and in order.
func TestReadMessageSplitAcrossReads(t *testing.T) {
	payloads := [][]byte{
		[]byte(`{"type":"subscribe","id":2,"channel":"news"}`),
		bytes.Repeat([]byte("x"), 300),   // 16-bit length
		bytes.Repeat([]byte("y"), 70000), // 64-bit length, larger than the buffer
		[]byte("z"),
	}
	var stream []byte
	for _, p := range payloads {
		stream = append(stream, maskedFrame(true, opText, p)...)
	}
	// A fragmented message with a ping between its fragments.
	stream = slices.Concat(stream, maskedFrame(false, opText, []byte("frag")), maskedFrame(true, opPing, []byte("p")), maskedFrame(true, 0, []byte("ment")))
	want := append(slices.Clone(payloads), []byte("fragment"))

	for _, step := range []int{1, 2, 3, 7, 13, 4096, 5000} {
		c, _, send := readerConn(t, 1<<20)
		go func() {
			for b := stream; len(b) > 0; {
				n := min(step, len(b))
				send(b[:n])
				b = b[n:]
			}
		}()
		for i, w := range want {
			msg, _, err := c.readMessage()
			if err != nil {
				t.Fatalf("step %d: message %d: %v", step, i, err)
			}
			if !bytes.Equal(msg, w) {
				t.Fatalf("step %d: message %d is %d bytes %.20q, want %d bytes %.20q", step, i, len(msg), msg, len(w), w)
			}
		}
	}
}

// The header rules hold with the buffer: an unmasked frame and a length
// with its top bit set end the connection; an oversize text frame is
// skipped and refused while the next frame still reads; input that ends
// inside a header is an unexpected end, not a clean one.
func TestReadMessageErrors(t *testing.T) {
	t.Run("unmasked", func(t *testing.T) {
		c, _, send := readerConn(t, 1024)
		send([]byte{0x81, 0x02, 'h', 'i'})
		_, _, err := c.readMessage()
		var pe protocolError
		if !errors.As(err, &pe) || !pe.fatal {
			t.Fatalf("err = %v, want a fatal protocol error", err)
		}
	})
	t.Run("length top bit", func(t *testing.T) {
		c, _, send := readerConn(t, 1024)
		send([]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		if _, _, err := c.readMessage(); err == nil {
			t.Fatal("a length with its top bit set was read")
		}
	})
	t.Run("oversize", func(t *testing.T) {
		c, _, send := readerConn(t, 1024)
		send(slices.Concat(maskedFrame(true, opText, make([]byte, 3000)), maskedFrame(true, opText, []byte("next"))))
		_, _, err := c.readMessage()
		var pe protocolError
		if !errors.As(err, &pe) || pe.fatal {
			t.Fatalf("err = %v, want a refusal that keeps the connection", err)
		}
		msg, _, err := c.readMessage()
		if err != nil || string(msg) != "next" {
			t.Fatalf("the frame after the oversize one: %q, %v", msg, err)
		}
	})
	t.Run("cut inside a header", func(t *testing.T) {
		c, _, send := readerConn(t, 1024)
		send(maskedFrame(true, opText, []byte("hello"))[:4])
		send(nil)
		_, _, err := c.readMessage()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

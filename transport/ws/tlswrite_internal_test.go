package ws

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/internal/selfsigned"
)

// writeCounter counts the writes made to the socket under a TLS connection:
// each is one system call.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tlsPair returns both ends of a TLS connection over loopback TCP, the
// server's over a socket that counts its writes.
func tlsPair(t testing.TB) (server *tls.Conn, wc *writeCounter, client *tls.Conn) {
	t.Helper()
	certFile, keyFile, pool, err := selfsigned.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	type accepted struct {
		tc *tls.Conn
		wc *writeCounter
	}
	srv := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(srv)
			return
		}
		wc := &writeCounter{Conn: nc}
		tc := tls.Server(wc, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() != nil {
			close(srv)
			return
		}
		srv <- accepted{tc, wc}
	}()
	cl, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	a, ok := <-srv
	if !ok {
		t.Fatal("the server's handshake failed")
	}
	t.Cleanup(func() { a.tc.Close() })

	return a.tc, a.wc, cl
}

// TestTLSWriteJoinsFrames checks that the frames one flush takes from the
// queue go to a TLS connection in one write, not one per frame: crypto/tls
// has no vectored write, and each Write is a record of its own and a system
// call, so a batch of small frames cost a record and a system call each.
func TestTLSWriteJoinsFrames(t *testing.T) {
	srvConn, wc, cl := tlsPair(t)
	c := &conn{h: &Handler{cfg: Config{WriteTimeout: 5 * time.Second}}, nc: srvConn}
	var want []byte
	var items []hub.Item
	for i := range 40 {
		f := textFrame(64, func(b []byte) []byte { return append(b, bytes.Repeat([]byte{'a' + byte(i%26)}, 120)...) })
		want = append(want, f...)
		items = append(items, hub.Item{Bytes: f})
	}
	before := wc.writes.Load()
	var vec net.Buffers
	if err := c.write(items, &vec); err != nil {
		t.Fatal(err)
	}
	writes := wc.writes.Load() - before
	got := make([]byte, len(want))
	_ = cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cl, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the client read other bytes than the frames written")
	}
	// 40 frames of about 124 bytes: at most one write per TLS record the
	// joined bytes need (crypto/tls starts with small records).
	if writes > 6 {
		t.Errorf("40 frames took %d writes to the socket, want a few", writes)
	}
}

// BenchmarkTLSFlush writes a flush of 40 frames to a TLS connection, joined
// and one Write per frame (net.Buffers.WriteTo, what a TLS flush did).
func BenchmarkTLSFlush(b *testing.B) {
	for _, mode := range []string{"per-frame", "joined"} {
		b.Run(mode, func(b *testing.B) {
			srv, _, cl := tlsPair(b)
			go func() { _, _ = io.Copy(io.Discard, cl) }()
			var frames net.Buffers
			for range 40 {
				frames = append(frames, textFrame(64, func(p []byte) []byte { return append(p, bytes.Repeat([]byte{'x'}, 120)...) }))
			}
			b.ResetTimer()
			for range b.N {
				var err error
				if mode == "joined" {
					err = writeJoined(srv, frames)
				} else {
					v := append(net.Buffers(nil), frames...)
					_, err = v.WriteTo(srv)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

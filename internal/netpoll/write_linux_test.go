//go:build linux

package netpoll_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/netpoll"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// TestWriteNonblock: a write takes what the socket has room for and says
// how much, a full socket is 0 bytes and no error rather than a wait, the
// bytes arrive whole and in order whether given as one buffer or several,
// a passed deadline fails the write, and so does a socket the peer reset.
func TestWriteNonblock(t *testing.T) {
	client, server := pair(t)
	raw, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var w netpoll.Writer
	var sent bytes.Buffer
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	full := false
	for i := 0; i < 100_000 && !full; i++ {
		vec := [][]byte{chunk[:i%7+1]}
		if i%2 == 1 {
			vec = [][]byte{chunk[:100], nil, chunk[100 : 100+i%300], chunk}
		}
		want := 0
		for _, b := range vec {
			want += len(b)
		}
		n, err := w.WriteNonblock(raw, vec)
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if n < 0 || n > want {
			t.Fatalf("write %d: %d bytes of %d", i, n, want)
		}
		full = n == 0
		for _, b := range vec {
			k := min(n, len(b))
			sent.Write(b[:k])
			n -= k
		}
	}
	if !full {
		t.Fatal("the socket never filled up: a write waited for the reader, or wrote nothing")
	}
	got := make([]byte, sent.Len())
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("the client read %d bytes that differ from the %d reported written", len(got), sent.Len())
	}

	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteNonblock(raw, [][]byte{chunk[:1]}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := server.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	if err := client.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	client.Close() // a reset
	testkit.Eventually(t, "writes to a reset socket to fail", func() bool {
		_, err := w.WriteNonblock(raw, [][]byte{chunk[:10], chunk[:10]})
		return err != nil
	})
}

// BenchmarkWriteNonblock writes 100 bytes to each of 1,000 loopback
// sockets, as a fan-out's pass does, one write per socket; every 64 rounds
// the other ends are read, in the same goroutine, one read per socket.
// Run it with -cpu 1, as a node runs: cpu-ns/write counts every thread of
// the process, the runtime's own included.
func BenchmarkWriteNonblock(b *testing.B) {
	const (
		n      = 1000
		rounds = 64 // between reads: well within a loopback receive buffer
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	raws := make([]syscall.RawConn, n)
	peers := make([]net.Conn, n)
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		defer s.Close()
		if raws[i], err = s.(*net.TCPConn).SyscallConn(); err != nil {
			b.Fatal(err)
		}
		peers[i] = c
	}
	msg := bytes.Repeat([]byte("m"), 100)
	vec := [][]byte{msg}
	buf := make([]byte, rounds*len(msg))
	var w netpoll.Writer
	k := 0
	round := func() {
		for _, raw := range raws {
			if m, err := w.WriteNonblock(raw, vec); m != len(msg) || err != nil {
				b.Fatalf("wrote %d of %d: %v", m, len(msg), err)
			}
		}
		if k++; k%rounds == 0 {
			for _, c := range peers {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for range rounds {
		round()
	}
	cpu := testkit.ProcessCPU()
	for b.Loop() {
		round()
	}
	cpu = testkit.ProcessCPU() - cpu
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/n, "cpu-ns/write")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/write")
}

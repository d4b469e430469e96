//go:build linux

package netpoll_test

import (
	"bytes"
	"errors"
	"io"
	"os"
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

package transport_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/transport"
)

// TestBoundWrite: a client that never reads its reply holds the handler
// (its goroutine, its reply and the connection) only until the write
// timeout, not for as long as it keeps the socket open.
func TestBoundWrite(t *testing.T) {
	wrote := make(chan error, 1)
	chunk := []byte(strings.Repeat("x", 64<<10))
	srv := httptest.NewServer(transport.Bound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Far more than the socket buffers on both ends hold.
		for range 4096 {
			if _, err := w.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}), 0, 50*time.Millisecond))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("256 MiB written to a client that reads nothing")
		}
	case <-time.After(testkit.Wait):
		t.Fatal("the reply to a client that reads nothing is still being written")
	}
}

package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/server"
)

// TestQueryOverflow: a query with more parameters than the node reads is
// refused with a message saying so, on every endpoint that reads a query,
// rather than read as if it had none (Go's parser drops them all past
// 10,000) and answered for a request the client did not send.
func TestQueryOverflow(t *testing.T) {
	n := newNode(t)
	many := "?channel=chat:a" + strings.Repeat("&x=1", 10_000)
	long := "?channel=chat:a&x=" + strings.Repeat("y", 9<<10)
	for _, tc := range []struct{ method, path, auth string }{
		{"GET", "/connection/sse", ""},
		{"GET", "/connection/poll", ""},
		{"GET", "/connection/history", ""},
		{"GET", "/connection/presence", ""},
		{"POST", "/connection/publish", ""},
		{"GET", "/api/history", "apikey " + apiKey},
		{"GET", "/api/presence", "apikey " + apiKey},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := n.do(tc.method, tc.path+many, tc.auth, `{"channel":"chat:a","data":1}`)
			r.wantError(t, http.StatusBadRequest, 107)
			if !strings.Contains(string(r.Body), "query has 10001 parameters, at most 1000") {
				t.Fatalf("too many parameters answered %s", r.Body)
			}
			r = n.do(tc.method, tc.path+long, tc.auth, `{"channel":"chat:a","data":1}`)
			r.wantError(t, http.StatusBadRequest, 107)
			if !strings.Contains(string(r.Body), "at most 8192") {
				t.Fatalf("a long query answered %s", r.Body)
			}
			// A query Go's parser reads only in part is refused whole.
			r = n.do(tc.method, tc.path+"?channel=chat:a&x=%zz", tc.auth, `{"channel":"chat:a","data":1}`)
			r.wantError(t, http.StatusBadRequest, 107)
		})
	}
	if st := n.hub.Stats(); st.Publications != 0 {
		t.Fatalf("refused requests published %d", st.Publications)
	}
}

// TestSlowBody: a request body dripped a byte at a time is cut off at the
// read timeout with 408 and code 107, and its connection closed, on the
// client publish endpoint and the HTTP API alike; unbounded, every such
// client held a connection, a descriptor and a goroutine for as long as it
// liked.
func TestSlowBody(t *testing.T) {
	n := newNode(t, func(c *server.Config) { c.HTTP.ReadTimeout = 100 * time.Millisecond })
	for _, tc := range []struct{ path, auth string }{
		{"/connection/publish", ""},
		{"/api/publish", "apikey " + apiKey},
	} {
		t.Run(tc.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
			if tc.auth != "" {
				head += "Authorization: " + tc.auth + "\r\n"
			}
			if _, err := io.WriteString(conn, head+"\r\n{"); err != nil {
				t.Fatal(err)
			}
			// Drip a byte every 20ms, far faster than the timeout, until
			// the node hangs up or the test ends.
			stop := make(chan struct{})
			dripped := make(chan struct{})
			defer func() { close(stop); <-dripped }()
			go func() {
				defer close(dripped)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(testkit.Wait))
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a dripping body: %v", err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			testkit.WantError(t, testkit.Response{Status: res.StatusCode, Header: res.Header, Body: body}, http.StatusRequestTimeout, 107)
			// The node closed the connection (an end, or a reset as the
			// drip goes on): its descriptor is released.
			if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after the answer: %v", err)
			}
		})
	}
	if st := n.hub.Stats(); st.Publications != 0 {
		t.Fatalf("cut requests published %d", st.Publications)
	}
}

// TestClientRateLimit: a node limits each client of its HTTP client
// endpoints by default, as it limits a WebSocket's commands (100 a second,
// 200 at once): one client flooding them gets 429 with code 110, and
// another client is served.
func TestClientRateLimit(t *testing.T) {
	n := newNode(t)
	flood, other := "Bearer "+token(t, "flood"), "Bearer "+token(t, "other")
	ok := 0
	for ; ok < 1000; ok++ {
		r := n.do("GET", "/connection/history?channel=chat:a", flood, "")
		if r.Status == http.StatusTooManyRequests {
			r.wantError(t, http.StatusTooManyRequests, 110)
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %v", r.Header)
			}
			break
		}
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", ok+1, r.Status, r.Body)
		}
	}
	if ok < 200 || ok == 1000 {
		t.Fatalf("%d requests served before the first 429, want the burst of 200 and not all 1000", ok)
	}
	if r := n.do("GET", "/connection/history?channel=chat:a", other, ""); r.Status != http.StatusOK {
		t.Fatalf("another client: %d %s", r.Status, r.Body)
	}
}

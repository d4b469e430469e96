package poll_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/transport/poll"
)

var heads = []string{
	"GET /connection/poll?channel=chat:a&cursor=xyz&timeout=25 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
	"GET /connection/poll?channel=a HTTP/1.1\r\nhost: node\r\norigin: http://node\r\nCOOKIE: sb_token=t\r\nx-custom-thing:  v \r\nX-Custom-Thing: w\r\nPragma: no-cache\r\n\r\n",
	"GET /connection/poll HTTP/1.1\nHost: node\nConnection: keep-alive\n\n",
	// Each goes to net/http.
	"GET /connection/poll HTTP/1.1\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n",
	"GET /connection/poll HTTP/1.0\r\nHost: node\r\n\r\n",
	"POST /connection/poll HTTP/1.1\r\nHost: node\r\nContent-Length: 2\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: node\r\nContent-Length: 0\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: node\r\nUpgrade: websocket\r\n\r\n",
	"GET /connection/polls HTTP/1.1\r\nHost: node\r\n\r\n",
	"GET /connection/%70oll HTTP/1.1\r\nHost: node\r\n\r\n",
	"GET http://node/connection/poll HTTP/1.1\r\nHost: node\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: node\r\nBad Key: v\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: node\r\nKey: v\r\n folded\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: no de\r\n\r\n",
	"GET /connection/poll HTTP/1.1\r\nHost: node\r\nKey: a\x01b\r\n\r\n",
}

// TestParseHead: the heads the handler reads itself are read as net/http
// reads them; the others are left to net/http.
func TestParseHead(t *testing.T) {
	taken := 0
	for _, h := range heads {
		if checkHead(t, []byte(h)) {
			taken++
		}
	}
	if taken != 3 {
		t.Fatalf("%d heads taken, want the first 3", taken)
	}
}

func FuzzParseHead(f *testing.F) {
	for _, h := range heads {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkHead(t, b) })
}

// checkHead holds parseHead to http.ReadRequest on b and reports whether
// the handler would serve b itself.
func checkHead(t *testing.T, b []byte) bool {
	t.Helper()
	r := poll.ParseHead(b, "/connection/poll")
	if r == nil {
		return false
	}
	want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("%q: taken, but net/http refuses it: %v", b, err)
	}
	got := fmt.Sprint(r.Method, r.URL.Path, "?", r.URL.RawQuery, r.Proto, r.Host, r.Header, r.ContentLength, r.Close, r.RequestURI)
	exp := fmt.Sprint(want.Method, want.URL.Path, "?", want.URL.RawQuery, want.Proto, want.Host, want.Header, want.ContentLength, want.Close, want.RequestURI)
	if got != exp {
		t.Fatalf("%q:\nparsed   %s\nnet/http %s", b, got, exp)
	}
	return true
}

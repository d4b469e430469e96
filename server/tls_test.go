package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/internal/selfsigned"
	"github.com/switchboardhq/switchboard/server"
)

// TestRequestsOverTLSSayTLS checks that a handler sees the TLS state of a
// request that came over TLS, whichever HTTP version it speaks: the node
// reads an HTTP/1.1 request's head itself before handing it to net/http,
// and without care net/http no longer knows the connection is TLS (r.TLS
// nil), so a handler takes an encrypted connection for a plain one.
func TestRequestsOverTLSSayTLS(t *testing.T) {
	cert, key, pool, err := selfsigned.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.TLS == nil:
			io.WriteString(w, "plain")
		case !r.TLS.HandshakeComplete || r.TLS.Version < tls.VersionTLS12:
			io.WriteString(w, "incomplete")
		default:
			io.WriteString(w, "tls "+r.TLS.NegotiatedProtocol)
		}
	})
	n := newNode(t, func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	server.HandleForTest(n.srv, "/tls-probe", probe)
	url := "https://" + addrOf(n) + "/tls-probe"
	for _, tc := range []struct {
		name  string
		h2    bool
		proto string
		want  string
	}{
		{"HTTP/1.1", false, "HTTP/1.1", "tls "},
		{"HTTP/2", true, "HTTP/2.0", "tls h2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			res, err := (&http.Client{Transport: tr}).Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.Proto != tc.proto {
				t.Fatalf("answered over %s, want %s", res.Proto, tc.proto)
			}
			if string(b) != tc.want {
				t.Errorf("the handler saw %q, want %q", b, tc.want)
			}
		})
	}
}

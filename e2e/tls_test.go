package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/selfsigned"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool, err := selfsigned.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// TestSSEOverHTTP2: a node with a certificate speaks HTTP/2, and several SSE
// streams share one TLS connection, each getting its own publications.
func TestSSEOverHTTP2(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	n := startNode(t, "--tls.cert-file", certFile, "--tls.key-file", keyFile)
	if !strings.HasPrefix(n.URL, "https://") {
		t.Fatalf("node URL %q, want https", n.URL)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var streams []*testkit.SSEStream
	var locals []string
	for _, ch := range []string{"lab:h2a", "lab:h2b", "lab:h2c"} {
		var local string
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, n.URL+"/connection/sse?channel="+ch, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		s := testkit.NewSSEStream(t, resp.Body)
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %d", ch, resp.Proto, resp.StatusCode)
		}
		if ev := s.Next(); ev.Event != "connected" {
			t.Fatalf("%s opens with %+v, want the connected event", ch, ev)
		}
		streams, locals = append(streams, s), append(locals, local)
	}
	for _, local := range locals[1:] {
		if local != locals[0] {
			t.Errorf("streams on different connections: %s and %s", locals[0], local)
		}
	}

	publish := func(ch, text string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.URL+"/api/publish",
			strings.NewReader(`{"channel":"`+ch+`","data":"`+text+`"}`))
		req.Header.Set("Authorization", "apikey "+n.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("publish: %d", resp.StatusCode)
		}
	}
	for i, ch := range []string{"lab:h2a", "lab:h2b", "lab:h2c"} {
		publish(ch, "to-"+ch)
		ev := streams[i].Next()
		if ev.Event != "" || !strings.Contains(ev.Data, `"channel":"`+ch+`"`) || !strings.Contains(ev.Data, `"to-`+ch+`"`) {
			t.Fatalf("%s got %+v", ch, ev)
		}
	}
}

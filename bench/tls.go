package bench

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/switchboardhq/switchboard/internal/selfsigned"
	"github.com/switchboardhq/switchboard/internal/wsclient"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, made for this
// run, to dir, and returns their paths and a client configuration that
// trusts the certificate and nothing else.
func selfSigned(dir string) (certFile, keyFile string, client *tls.Config, err error) {
	certFile, keyFile, pool, err := selfsigned.Write(dir)
	if err != nil {
		return "", "", nil, err
	}
	return certFile, keyFile, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, nil
}

// httpClient is a client for the node's HTTP endpoints, trusting its
// certificate when it serves TLS.
func (n *Node) httpClient() *http.Client {
	if n.TLS == nil {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: n.TLS}}
}

// wsOptions dials a WebSocket connection from d, over TLS when the node
// serves it. The URL stays ws://: the TLS is below the client.
func (n *Node) wsOptions(d *net.Dialer) wsclient.Options {
	opts := wsclient.Options{Dialer: d, ReadBufferSize: 1024}
	if n.TLS != nil {
		cfg := n.TLS
		opts.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			td := &tls.Dialer{NetDialer: d, Config: cfg}
			return td.DialContext(ctx, network, addr)
		}
	}
	return opts
}

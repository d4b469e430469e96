package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Response is an HTTP response read whole, as the tests of the node's HTTP
// endpoints check it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// NewRequest builds a request for method and url with body ("" for none),
// applying each edit (a nil edit is skipped), and fails t if it cannot.
func NewRequest(t testing.TB, method, url, body string, edit ...func(*http.Request)) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		if e != nil {
			e(req)
		}
	}
	return req
}

// Do sends req with c (http.DefaultClient if nil) and reads the whole
// response, failing t if either fails.
func Do(t testing.TB, c *http.Client, req *http.Request) Response {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// Bearer is a request edit that sends tok as a bearer token.
func Bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// WantError checks a refusal from one of the node's HTTP endpoints: the
// status, a JSON body {"error": {"code", "message"}} with the code and a
// message, and nothing else.
func WantError(t testing.TB, r Response, status int, code uint32) {
	t.Helper()
	var body struct {
		Error *struct {
			Code    uint32 `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error == nil {
		t.Fatalf("status %d, body %q is not an error body: %v", r.Status, r.Body, err)
	}
	if r.Status != status || body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("got %d %s, want status %d code %d with a message", r.Status, r.Body, status, code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json", ct)
	}
}

// AskHealth sends GET /healthz on c, an open connection to a node, and
// reports whether 200 came back within guard; the connection stays open
// (keep-alive) when it did. An error that is a timeout means the node
// accepted the connection and never answered.
func AskHealth(c net.Conn, guard time.Duration) (bool, error) {
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// grpcPageJS summarises the gRPC lab page (web/static/grpc.html) for a test:
// what it received, the rows it shows, and why calls ended.
const grpcPageJS = `(() => { const g = window.grpc;
  return { state: g.state, streams: g.streams, errors: g.errors, subscribed: Object.keys(g.subscribed),
    offsets: g.received.map(p => p.offset), ns: g.received.map(p => p.data.n),
    channels: [...new Set(g.received.map(p => p.channel))], epochs: [...new Set(g.received.map(p => p.epoch))],
    rows: [...document.querySelectorAll("#log li:not(.event) .meta")].map(e => e.textContent),
    flagged: Number(document.getElementById("flagged").textContent) }; })()`

type grpcPage struct {
	State      string   `json:"state"`
	Streams    int      `json:"streams"`
	Errors     []string `json:"errors"`
	Subscribed []string `json:"subscribed"`
	Offsets    []uint64 `json:"offsets"`
	Ns         []int    `json:"ns"`
	Channels   []string `json:"channels"`
	Epochs     []string `json:"epochs"`
	Rows       []string `json:"rows"`
	Flagged    int      `json:"flagged"`
}

// TestBrowserGRPC is a server stream in Chromium: the gRPC lab page calls
// ClientService/Subscribe in the Connect protocol with fetch, reads the
// envelopes off a ReadableStream and renders each publication. The test
// publishes through the HTTP API and checks that the page shows every one,
// once and in order. A page of another origin reaches a node that allows
// its origin, and is refused by one that does not.
func TestBrowserGRPC(t *testing.T) {
	const total = 40
	b := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("same origin", func(t *testing.T) {
		n := startNode(t)
		const channel = "lab:grpc-page"
		p := b.open("same", n.URL+"/grpc.html?channel="+channel)
		p.wait("subscribed", `window.grpc && window.grpc.subscribed["`+channel+`"] !== undefined`, time.Minute)
		for i := 1; i <= total; i++ {
			if _, err := n.publish(ctx, channel, map[string]int{"n": i}); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
		p.wait(fmt.Sprintf("%d publications", total), fmt.Sprintf("window.grpc.received.length >= %d", total), time.Minute)
		var got grpcPage
		p.eval(grpcPageJS, &got)
		checkGRPCPage(t, got, channel, total)
		p.screenshot("grpc")
		p.checkNoErrors()
	})

	t.Run("cross origin", func(t *testing.T) {
		// The page comes from home; allowing names home's origin, refusing
		// names none. All three are 127.0.0.1, so only the port tells the
		// origins apart.
		home := startNode(t)
		allowing := startNode(t, "--allowed-origins", home.URL)
		refusing := startNode(t)
		const channel = "lab:grpc-cors"

		ok := b.open("allowed", home.URL+"/grpc.html?channel="+channel+"&node="+allowing.URL)
		ok.wait("subscribed", `window.grpc && window.grpc.subscribed["`+channel+`"] !== undefined`, time.Minute)
		if _, err := allowing.publish(ctx, channel, map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
		ok.wait("a publication", "window.grpc.received.length >= 1", time.Minute)
		var got grpcPage
		ok.eval(grpcPageJS, &got)
		checkGRPCPage(t, got, channel, 1)

		no := b.open("refused", home.URL+"/grpc.html?channel="+channel+"&node="+refusing.URL)
		no.wait("a refused call", "window.grpc && window.grpc.errors.length >= 1", time.Minute)
		if _, err := refusing.publish(ctx, channel, map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
		// What the browser was refused is the preflight: the node answers
		// it without allowing the page's origin.
		req, err := http.NewRequestWithContext(ctx, http.MethodOptions, refusing.URL+"/switchboard.v1.ClientService/Subscribe", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", home.URL)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if a := resp.Header.Get("Access-Control-Allow-Origin"); a != "" {
			t.Errorf("the refusing node's preflight allows origin %q", a)
		}
		no.eval(grpcPageJS, &got)
		if got.Streams != 0 || len(got.Subscribed) != 0 || len(got.Offsets) != 0 {
			t.Errorf("a page of an origin the node does not allow opened %d streams, subscribed %q, received %v", got.Streams, got.Subscribed, got.Offsets)
		}
		if !strings.Contains(strings.Join(got.Errors, "\n"), "the call failed") {
			t.Errorf("the refused page's errors are %q, want a failed call", got.Errors)
		}
		// The node is unharmed: a page it allows (its own) still streams.
		same := b.open("refusing-own", refusing.URL+"/grpc.html?channel="+channel)
		same.wait("subscribed", `window.grpc && window.grpc.subscribed["`+channel+`"] !== undefined`, time.Minute)
		same.checkNoErrors()
	})
}

// checkGRPCPage checks that the page received offsets 1..total of one
// channel and epoch, each once and in order, with their data, and shows a
// row for each, in order.
func checkGRPCPage(t *testing.T, got grpcPage, channel string, total int) {
	t.Helper()
	if bad := offsetProblems(got.Offsets, total); bad != "" {
		t.Errorf("the page did not receive offsets 1..%d once each, in order: %s", total, bad)
	}
	for i, n := range got.Ns {
		if n != i+1 {
			t.Errorf("publication #%d carries n=%d, want %d", i+1, n, i+1)
			break
		}
	}
	if len(got.Channels) != 1 || got.Channels[0] != channel || len(got.Epochs) != 1 {
		t.Errorf("publications from channels %q, epochs %q; want %s, one epoch", got.Channels, got.Epochs, channel)
	}
	want := make([]string, total)
	for i := range want {
		want[i] = fmt.Sprintf("%s #%d", channel, i+1)
	}
	if strings.Join(got.Rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("the page shows rows\n%s\nwant\n%s", strings.Join(got.Rows, "\n"), strings.Join(want, "\n"))
	}
	if got.Flagged != 0 || len(got.Errors) != 0 {
		t.Errorf("the page flagged %d publications out of sequence, errors %q", got.Flagged, got.Errors)
	}
}

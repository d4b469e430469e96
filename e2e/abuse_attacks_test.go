package e2e_test

import (
	"context"
	"crypto/rand"
	binenc "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
)

// abuseCases is the table of issue 11's findings, each an attack with the
// bounds the node must keep under it.
func abuseCases() []abuseCase {
	return []abuseCase{
		{name: "1a-long-polls-from-0", prepare: prepareHistory, run: longPolls, heapFor: replayHeap(abuseQueueBytes)},
		{name: "1b-http-history-1000", prepare: prepareHistory, run: historyReplies, heapFor: replayHeap(replyBytes)},
		{name: "1c-sse-resume-from-0", prepare: prepareHistory, run: sseResumes, heapFor: replayHeap(abuseQueueBytes)},
		{name: "1d-ws-history-1000", prepare: prepareHistory, run: wsHistories, heapFor: replayHeap(replyBytes)},
		{name: "1e-ws-subscribe-since-0", prepare: prepareHistory, run: wsReplays, heapFor: replayHeap(abuseQueueBytes)},
		{name: "2-long-idempotency-keys", run: longKeys, heapBound: 16 << 20},
		{name: "3-invalid-utf8-keys", run: invalidUTF8Keys, heapBound: 8 << 20},
		{name: "4a-ping-flood", run: func(t *testing.T, a *attack) { frameFlood(t, a, wsclient.OpPing, []byte(strings.Repeat("p", 125))) }, heapBound: 16 << 20},
		{name: "4b-garbage-flood", run: func(t *testing.T, a *attack) { frameFlood(t, a, wsclient.OpText, []byte(`{"type":"publish","id":`)) }, heapBound: 16 << 20},
		{name: "5-binary-frame-2^40", run: hugeBinaryFrame, heapBound: 8 << 20},
		{name: "6-dripped-bodies", run: drippedBodies, heapBound: 8 << 20},
		{name: "7-descriptor-exhaustion", wrap: "ulimit -n " + fmt.Sprint(fdLimit), run: descriptorExhaustion, heapBound: 48 << 20},
		{name: "8-http-publish-flood", run: httpPublishFlood, heapBound: 8 << 20},
		{name: "9-query-overflow", run: queryOverflow, heapBound: 8 << 20},
		{name: "10a-token-leeway", run: tokenLeeway, heapBound: 8 << 20},
		{name: "10b-token-require-exp", args: []string{"--token.require-exp=true"}, run: tokenRequireExp, heapBound: 8 << 20},
		{name: "11a-slow-sse-reads-late", args: []string{"--sse.write-timeout", sseLateTimeout.String()}, run: func(t *testing.T, a *attack) { slowSSE(t, a, false) }, heapBound: heapSlowBound},
		{name: "11b-slow-sse-stalled", args: []string{"--sse.write-timeout", sseWriteTimeout.String()}, run: func(t *testing.T, a *attack) { slowSSE(t, a, true) }, heapBound: heapSlowBound},
	}
}

// keyLimit is the most bytes an idempotency key may have.
const keyLimit = 256

// clientPublish posts body to /connection/publish, with a token if one is
// given, and reads the answer.
func clientPublish(t *testing.T, ctx context.Context, n *node, body, token string) testkit.Response {
	t.Helper()
	req := testkit.NewRequest(t, http.MethodPost, n.URL+"/connection/publish", body, func(r *http.Request) {
		*r = *r.WithContext(ctx)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	})
	return testkit.Do(t, nil, req)
}

// historyLen is how many publications ch holds, through the API.
func historyLen(t *testing.T, a *attack, ch string) int {
	t.Helper()
	var h historyAnswer
	if err := a.n.api(a.ctx, http.MethodGet, "/api/history?channel="+url.QueryEscape(ch)+"&limit=1000", nil, &h); err != nil {
		t.Fatal(err)
	}
	return len(h.Publications)
}

// longKeys is finding 2: anonymous publishes with long unique keys are
// refused with 107 (or 429/110 once the client is over its rate), nothing
// of them is kept, and a key at the limit still works.
func longKeys(t *testing.T, a *attack) {
	const ch = "chat:keys"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	next := atomic.Int64{}
	client := &http.Client{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(a.sizes.keyRequests) {
					return
				}
				key := fmt.Sprintf("%d-%s", i, strings.Repeat("k", a.sizes.keyLen))[:a.sizes.keyLen]
				body := `{"channel":"` + ch + `","data":1,"key":"` + key + `"}`
				req, _ := http.NewRequestWithContext(a.ctx, http.MethodPost, a.n.URL+"/connection/publish", strings.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, msg := codeOf(b)
				ok := resp.StatusCode == 400 && code == 107 && strings.Contains(msg, fmt.Sprint(keyLimit)) ||
					resp.StatusCode == 429 && code == 110
				if !ok {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%d %s", resp.StatusCode, trimmed(b)))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	a.hold(t) // what the node keeps of the keys, kept for their window
	if len(bad) > 0 {
		t.Errorf("%d of %d publishes with %d-byte keys were not refused with 400/107 naming the %d-byte limit (or 429/110); first: %s",
			len(bad), a.sizes.keyRequests, a.sizes.keyLen, keyLimit, bad[0])
	}
	if got := historyLen(t, a, ch); got != 0 {
		t.Errorf("%d publications with over-long keys were published", got)
	}

	// The limit itself: a key of keyLimit bytes is taken, one more is not
	// (from a client with a token: the anonymous one may be over its rate).
	tok := mintAbuseToken(t, "keys", time.Now().Add(time.Hour))
	ok := clientPublish(t, a.ctx, a.n, `{"channel":"`+ch+`","data":1,"key":"`+strings.Repeat("a", keyLimit)+`"}`, tok)
	if ok.Status != http.StatusOK {
		t.Errorf("a %d-byte key: %d %s", keyLimit, ok.Status, trimmed(ok.Body))
	}
	over := clientPublish(t, a.ctx, a.n, `{"channel":"`+ch+`","data":1,"key":"`+strings.Repeat("a", keyLimit+1)+`"}`, tok)
	testkit.WantError(t, over, http.StatusBadRequest, 107)
}

// invalidUTF8Keys is finding 3: keys "\xff" and "\xfe" are refused with
// 107 over HTTP and WebSocket, never taken as one key (duplicate:true), and
// nothing is published.
func invalidUTF8Keys(t *testing.T, a *attack) {
	const ch = "chat:utf8"
	for _, k := range []string{"\xff", "\xfe"} {
		r := clientPublish(t, a.ctx, a.n, `{"channel":"`+ch+`","data":1,"key":"`+k+`"}`, "")
		if r.Status == http.StatusOK {
			t.Errorf("HTTP publish with key %q answered %s: want 400/107", k, r.Body)
			continue
		}
		testkit.WantError(t, r, http.StatusBadRequest, 107)
	}
	c, _ := wsConnect(t, a.ctx, a.n, false, "")
	for i, k := range []string{"\xff", "\xfe"} {
		id := uint64(10 + i)
		frame := fmt.Sprintf(`{"type":"publish","id":%d,"channel":"%s","data":1,"key":"%s"}`, id, ch, k)
		if err := c.WriteText([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		f, err := wsReply(c, id, testWait)
		if err != nil {
			t.Fatalf("WebSocket publish with key %q: %v", k, err)
		}
		if f.Error == nil || f.Error.Code != 107 {
			t.Errorf("WebSocket publish with key %q: %+v, want error 107", k, f)
		}
	}
	if got := historyLen(t, a, ch); got != 0 {
		t.Errorf("%d publications with invalid UTF-8 keys were published", got)
	}
}

// floodCloses are the codes a flooding client may be closed with: over its
// queue budget (3002), or over the frame rate for good (3501).
var floodCloses = []uint16{3002, 3501}

// frameFlood is finding 4: after connect, frames of one kind sent in a
// loop, never reading. The node ends the connection (close 3002 or 3501,
// or a cut when the socket takes no close frame) long before the client
// has sent all it wanted to.
func frameFlood(t *testing.T, a *attack, op byte, payload []byte) {
	c, _ := wsConnect(t, a.ctx, a.n, true, "")
	var sent atomic.Int64
	done := make(chan error, 1)
	go func() {
		_ = c.NetConn().SetWriteDeadline(time.Now().Add(eventWait))
		for range a.sizes.frames {
			if err := c.WriteFrame(op, payload); err != nil {
				done <- err
				return
			}
			sent.Add(1)
		}
		done <- nil
	}()
	err := <-done
	a.hold(t) // what the flood left the node holding, its connection still open unless the node ended it
	t.Logf("the client sent %d frames (%v)", sent.Load(), err)
	if err == nil {
		t.Errorf("the node took all %d frames without ending the connection", a.sizes.frames)
	}
	code, err := wsEnd(c, eventWait)
	if err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	if code != 0 && !slices.Contains(floodCloses, code) {
		t.Fatalf("the flood was closed with %d, want one of %v", code, floodCloses)
	}
}

// hugeBinaryFrame is finding 5: a binary frame declaring 2^40 bytes is
// closed with 3503 at once, without its payload being read.
func hugeBinaryFrame(t *testing.T, a *attack) {
	c, _ := wsConnect(t, a.ctx, a.n, false, "")
	hdr := []byte{0x80 | wsclient.OpBinary, 0x80 | 127}
	hdr = binenc.BigEndian.AppendUint64(hdr, 1<<40)
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	hdr = append(hdr, make([]byte, 64<<10)...)
	if _, err := c.NetConn().Write(hdr); err != nil {
		t.Fatal(err)
	}
	code, err := wsEnd(c, 5*time.Second)
	if err != nil || code != 3503 {
		t.Fatalf("after a frame declaring 2^40 bytes: close %d (%v), want 3503 at once", code, err)
	}
}

// drippedBodies is finding 6: request bodies dripped a byte a second to
// /connection/publish and /api/publish are cut within http.read_timeout
// (10s by default): 408 with code 107, or a closed connection; and the
// node's descriptors go back to where they were.
func drippedBodies(t *testing.T, a *attack) {
	const readTimeout = 10 * time.Second
	before := a.n.fds()
	type target struct{ path, auth string }
	targets := []target{{"/connection/publish", ""}, {"/api/publish", "apikey " + a.n.APIKey}}
	conns := make([]*rawConn, 2*a.sizes.attackers)
	stop := make(chan struct{})
	var drips sync.WaitGroup
	for i := range conns {
		tg := targets[i%2]
		h := map[string]string{}
		if tg.auth != "" {
			h["Authorization"] = tg.auth
		}
		conns[i] = dialRaw(t, a.ctx, a.n, false)
		conns[i].send(t, http.MethodPost, tg.path, h, `{`, 1000)
		drips.Add(1)
		go func(c *rawConn) {
			defer drips.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}(conns[i])
	}
	a.hold(t)
	t.Logf("node descriptors: %d before, %d with %d dripping requests", before, a.n.fds(), len(conns))
	for _, c := range conns {
		resp, body, err := c.response(readTimeout + 5*time.Second)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("a dripped body was still being read after %v", readTimeout+5*time.Second)
		}
		if err == nil {
			code, _ := codeOf(body)
			if resp.StatusCode != http.StatusRequestTimeout || code != 107 {
				t.Fatalf("a dripped body was answered %d %s, want 408/107 or a closed connection", resp.StatusCode, trimmed(body))
			}
		}
		c.Close()
	}
	close(stop)
	drips.Wait()
	waitCondition(t, testWait, func() bool { return a.n.fds() <= before+2 },
		func() string { return fmt.Sprintf("node descriptors: %d before, %d now", before, a.n.fds()) })
}

// fdLimit is the node's open-file limit in the descriptor attack, and
// fdReserve the reserve the contract keeps under it: max(64, 5%).
const (
	fdLimit   = 256
	fdReserve = 64
)

// descriptorExhaustion is finding 7: a node with few descriptors derives
// limits.connections from them, refuses WebSocket connections over it with
// a connect reply 118 and the close 3006 (or the close alone), SSE with a disconnect event 3006, polls with 503/118, never leaves
// a connection unanswered, and keeps answering /healthz, /readyz, /metrics
// and the API.
func descriptorExhaustion(t *testing.T, a *attack) {
	limit := fdLimit - fdReserve
	var accepted, refused int
	for i := 0; i < fdLimit+32; i++ {
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
		c, _, err := wsclient.Dial(ctx, a.n.WS, wsclient.Options{})
		cancel()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatalf("connection %d (%d accepted, %d refused) hung without an answer", i, accepted, refused)
			}
			refused++ // accepted and closed at once, over the hard cap
			continue
		}
		t.Cleanup(func() { c.Close() })
		if err := c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: protocol.TypeConnect, ID: 1})); err != nil {
			t.Fatal(err)
		}
		f, err := wsReply(c, 1, 5*time.Second)
		if ce, ok := errors.AsType[*wsclient.CloseError](err); ok {
			if ce.Code != 3006 {
				t.Fatalf("connection %d refused with %d, want 3006", i, ce.Code)
			}
			refused++
			c.Close()
			continue
		}
		if err != nil {
			t.Fatalf("connection %d (%d accepted, %d refused): %v", i, accepted, refused, err)
		}
		if f.Error != nil {
			// Refused on a connection that still answers: the reply
			// says 118, the close 3006.
			if f.Error.Code != 118 {
				t.Fatalf("connection %d: connect answered %+v, want 118 then close 3006", i, f.Error)
			}
			if code, err := wsEnd(c, testWait); err != nil || code != 3006 {
				t.Fatalf("connection %d: connect answered 118, then close %d (%v), want 3006", i, code, err)
			}
			refused++
			c.Close()
			continue
		}
		accepted++
	}
	t.Logf("with %d descriptors: %d WebSocket connections accepted, %d refused", fdLimit, accepted, refused)
	if accepted > limit || refused == 0 {
		t.Fatalf("%d connections accepted of %d, want at most %d (the descriptors less the reserve)", accepted, fdLimit+32, limit)
	}
	// SSE and polls over the limit.
	sse := dialRaw(t, a.ctx, a.n, false)
	sse.send(t, http.MethodGet, "/connection/sse?channel=chat:full", nil, "", 0)
	_ = sse.SetReadDeadline(time.Now().Add(testWait))
	resp, err := http.ReadResponse(sse.br, nil)
	if err != nil {
		t.Fatalf("SSE over the limit: %v", err)
	}
	rd := testkit.NewSSEReader(resp.Body)
	ev, err := rd.Next()
	for err == nil && ev.Event != "disconnect" {
		ev, err = rd.Next()
	}
	if err != nil || disconnectCode(t, ev.Data) != 3006 {
		t.Fatalf("SSE over the limit: %v %q, want event disconnect 3006", err, ev.Data)
	}
	sse.Close()
	poll := testkit.Do(t, &http.Client{Timeout: testWait}, testkit.NewRequest(t, http.MethodGet, a.n.URL+"/connection/poll?channel=chat:full&timeout=0", ""))
	testkit.WantError(t, poll, http.StatusServiceUnavailable, 118)
	// The reserve keeps the operator's endpoints answering.
	quick := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/info"} {
		r := testkit.Do(t, quick, testkit.NewRequest(t, http.MethodGet, a.n.URL+path, "", func(r *http.Request) {
			r.Header.Set("Authorization", "apikey "+a.n.APIKey)
		}))
		if r.Status != http.StatusOK {
			t.Errorf("%s at the connection limit: %d", path, r.Status)
		}
	}
	a.hold(t)
}

// httpRate is limits.http_requests_per_second and its burst, at their
// defaults.
const (
	httpRate  = 100
	httpBurst = 200
)

// httpPublishFlood is finding 8: one anonymous client publishing over
// HTTP as fast as it can gets 429/110 with Retry-After once over its burst
// and rate, while another client (with a token) still publishes.
func httpPublishFlood(t *testing.T, a *attack) {
	const ch = "chat:flood"
	n := 5 * httpBurst
	var ok, limited, other atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	var next atomic.Int64
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequestWithContext(a.ctx, http.MethodPost, a.n.URL+"/connection/publish", strings.NewReader(`{"channel":"`+ch+`","data":1}`))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					first.CompareAndSwap(nil, err.Error())
					other.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, _ := codeOf(b)
				switch {
				case resp.StatusCode == http.StatusOK:
					ok.Add(1)
				case resp.StatusCode == http.StatusTooManyRequests && code == 110 && resp.Header.Get("Retry-After") != "":
					limited.Add(1)
				default:
					first.CompareAndSwap(nil, fmt.Sprintf("%d %s %v", resp.StatusCode, trimmed(b), resp.Header))
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d publishes in %v: %d accepted, %d refused 429/110", n, took, ok.Load(), limited.Load())
	if other.Load() > 0 {
		t.Errorf("%d answers neither 200 nor 429/110 with Retry-After; first: %v", other.Load(), first.Load())
	}
	if allowed := int64(httpBurst + httpRate*took.Seconds() + 10); ok.Load() > allowed || limited.Load() == 0 {
		t.Errorf("%d of %d publishes accepted in %v: want at most the burst %d and %d/s (%d)", ok.Load(), n, took, httpBurst, httpRate, allowed)
	}
	tok := mintAbuseToken(t, "bob", time.Now().Add(time.Hour))
	r := clientPublish(t, a.ctx, a.n, `{"channel":"`+ch+`","data":2}`, tok)
	if r.Status != http.StatusOK {
		t.Errorf("another client's publish during the flood: %d %s", r.Status, trimmed(r.Body))
	}
}

// queryOverflow is finding 9: a query of more than 1,000 parameters is
// refused with 400/107 and a message saying so.
func queryOverflow(t *testing.T, a *attack) {
	for _, count := range []int{1001, 10_001} {
		var q strings.Builder
		q.WriteString("channel=chat:q&timeout=0")
		for i := range count - 2 {
			fmt.Fprintf(&q, "&p%d=1", i)
		}
		r := testkit.Do(t, nil, testkit.NewRequest(t, http.MethodGet, a.n.URL+"/connection/poll?"+q.String(), ""))
		testkit.WantError(t, r, http.StatusBadRequest, 107)
		if _, msg := codeOf(r.Body); !strings.Contains(msg, "parameters") || !strings.Contains(msg, "1000") {
			t.Errorf("%d parameters: message %q, want it to say there are too many parameters (at most 1000)", count, msg)
		}
	}
}

// mintAbuseToken mints a token for user expiring at exp (none if zero).
func mintAbuseToken(t *testing.T, user string, exp time.Time) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(abuseSecret), "", auth.Claims{Subject: user, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenLeeway is finding 10: a token that expired 2–3 s ago is accepted
// within token.leeway (5s) on WebSocket connect, SSE, polls and HTTP
// publish.
func tokenLeeway(t *testing.T, a *attack) {
	tok := mintAbuseToken(t, "late", time.Now().Add(-2*time.Second).Truncate(time.Second))
	_, f := wsConnect(t, a.ctx, a.n, false, tok)
	if f.Error != nil {
		t.Errorf("WebSocket connect with a token expired within the leeway: %+v", f.Error)
	}
	sse := testkit.Do(t, nil, testkit.NewRequest(t, http.MethodGet, a.n.URL+"/connection/poll?channel=chat:late&timeout=0", "", testkit.Bearer(tok)))
	if sse.Status != http.StatusOK {
		t.Errorf("poll with a token expired within the leeway: %d %s", sse.Status, trimmed(sse.Body))
	}
	ctx, cancel := context.WithTimeout(a.ctx, testWait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.n.URL+"/connection/sse?channel=chat:late&token="+tok, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.NewSSEStream(t, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("SSE with a token expired within the leeway: %d", resp.StatusCode)
	} else if ev := s.Next(); ev.Event != "connected" {
		t.Errorf("SSE with a token expired within the leeway: first event %q %s", ev.Event, ev.Data)
	}
	s.Close()
	r := clientPublish(t, a.ctx, a.n, `{"channel":"chat:late","data":1}`, tok)
	if r.Status != http.StatusOK {
		t.Errorf("HTTP publish with a token expired within the leeway: %d %s", r.Status, trimmed(r.Body))
	}
}

// tokenRequireExp is finding 10: with token.require_exp, a token without
// exp is refused (101 on HTTP; a connect error 101 or close 3500 on
// WebSocket), and one with exp is taken.
func tokenRequireExp(t *testing.T, a *attack) {
	forever := mintAbuseToken(t, "forever", time.Time{})
	poll := testkit.Do(t, nil, testkit.NewRequest(t, http.MethodGet, a.n.URL+"/connection/poll?channel=chat:exp&timeout=0", "", testkit.Bearer(forever)))
	testkit.WantError(t, poll, http.StatusUnauthorized, 101)
	c, _, err := wsclient.Dial(a.ctx, a.n.WS, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: protocol.TypeConnect, ID: 1, Token: forever})); err != nil {
		t.Fatal(err)
	}
	f, err := wsReply(c, 1, testWait)
	ce, closed := errors.AsType[*wsclient.CloseError](err)
	if !(closed && ce.Code == 3500) && (err != nil || f.Error == nil || f.Error.Code != 101) {
		t.Errorf("WebSocket connect with a token without exp: %+v %v, want error 101 or close 3500", f, err)
	}
	good := mintAbuseToken(t, "bounded", time.Now().Add(time.Hour))
	ok := testkit.Do(t, nil, testkit.NewRequest(t, http.MethodGet, a.n.URL+"/connection/poll?channel=chat:exp&timeout=0", "", testkit.Bearer(good)))
	if ok.Status != http.StatusOK {
		t.Errorf("poll with a token with exp: %d %s", ok.Status, trimmed(ok.Body))
	}
}

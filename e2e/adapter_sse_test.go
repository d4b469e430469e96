package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// sseFollower follows channels as a browser's EventSource does: a plain GET
// of /connection/sse with the token in ?token=, the event stream parsed by
// the rules of the HTML standard, the last id: remembered and sent back as
// Last-Event-ID on reconnect. It opens from positions with ?cursor=, as a
// client that changes channels would.
type sseFollower struct {
	*eventQueue
	spec   followSpec
	client *http.Client

	mu     sync.Mutex
	lastID string // the last event id received
	rd     connReader
}

var _ follower = (*sseFollower)(nil)

func (f *sseFollower) open(ctx context.Context, n *node, spec followSpec) error {
	f.spec = spec
	return f.connect(ctx, n, "", spec.cursor())
}

func (f *sseFollower) resume(ctx context.Context, n *node) error {
	f.cut()
	f.mu.Lock()
	id := f.lastID
	f.mu.Unlock()
	if id == "" {
		// Nothing was received; start over as the first time.
		return f.connect(ctx, n, "", f.spec.cursor())
	}
	return f.connect(ctx, n, id, "")
}

func (f *sseFollower) cut() {
	f.rd.stop()
	f.client.Transport.(*http.Transport).CloseIdleConnections()
}

func (f *sseFollower) close() { f.cut() }

// connect opens a stream and waits for its connected event, or for the
// refusal or end that comes instead.
func (f *sseFollower) connect(ctx context.Context, n *node, lastID, cursor string) error {
	q := url.Values{"channel": f.spec.channels}
	if f.spec.token != "" {
		q.Set("token", f.spec.token)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	// The stream outlives open's ctx; ctx bounds only the wait for it.
	rctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, n.URL+"/connection/sse?"+q.Encode(), nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	stop := context.AfterFunc(ctx, cancel)
	resp, err := f.client.Do(req)
	stop()
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		f.push(codedErrorEvent(resp.StatusCode, body), followEvent{kind: evEnd})
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		cancel()
		return fmt.Errorf("sse: Content-Type %q", resp.Header.Get("Content-Type"))
	}
	settled, done := make(chan struct{}), make(chan struct{})
	f.rd = connReader{cancel: cancel, done: done}
	go f.read(rctx, resp.Body, settled, done)
	select {
	case <-settled:
		return nil
	case <-done:
		return nil
	case <-ctx.Done():
		f.cut()
		return ctx.Err()
	}
}

// read parses the stream until it ends. settled is closed at the connected
// event.
func (f *sseFollower) read(ctx context.Context, body io.ReadCloser, settled, done chan struct{}) {
	defer close(done)
	defer body.Close()
	r := testkit.NewSSEReader(body)
	for {
		ev, err := r.Next()
		if err != nil {
			if ctx.Err() != nil {
				return // cut
			}
			end := followEvent{kind: evEnd}
			if err != io.EOF {
				end.err = err
			}
			f.push(end)
			return
		}
		// The id takes effect even for a block without data, as in
		// EventSource; a block without data is no event.
		if ev.HasID {
			f.mu.Lock()
			f.lastID = ev.ID
			f.mu.Unlock()
		}
		if ev.Unknown != nil {
			f.push(followEvent{kind: evOther, raw: fmt.Sprintf("lines EventSource ignores: %q", ev.Unknown)})
		}
		if ev.HasData && f.dispatch(ev) && settled != nil {
			close(settled)
			settled = nil
		}
	}
}

// dispatch turns one event into follower events. It reports whether the
// event was the connected one.
func (f *sseFollower) dispatch(ev testkit.SSEEvent) bool {
	switch ev.Event {
	case "", "message":
		fr, err := protocol.DecodeFrame([]byte(ev.Data))
		if err != nil || fr.Type != "" || !ev.HasID {
			f.push(followEvent{kind: evOther, raw: fmt.Sprintf("event %q id %q data %s", ev.Event, ev.ID, ev.Data)})
			return false
		}
		f.push(followEvent{kind: evPublication, pub: fr.Publication()})
	case "connected":
		var c struct {
			Client   string `json:"client"`
			Channels map[string]struct {
				Epoch     string `json:"epoch"`
				Offset    uint64 `json:"offset"`
				Recovered bool   `json:"recovered"`
			} `json:"channels"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil || c.Client == "" || !ev.HasID {
			f.push(followEvent{kind: evOther, raw: "connected " + ev.Data})
			return true
		}
		for _, ch := range slices.Sorted(maps.Keys(c.Channels)) {
			s := c.Channels[ch]
			f.push(followEvent{kind: evSubscribed, channel: ch, recovered: s.Recovered,
				latest: stream.Position{Epoch: s.Epoch, Offset: s.Offset}})
		}
		return true
	case "disconnect":
		fr, err := protocol.DecodeFrame([]byte(ev.Data))
		if err != nil {
			f.push(followEvent{kind: evOther, raw: "disconnect " + ev.Data})
			return false
		}
		f.push(followEvent{kind: evDisconnect, code: fr.Code, reason: fr.Reason, reconnect: fr.Reconnect})
	case "ping":
		// The node's keep-alive, as the WebSocket adapter answers pings.
		if ev.Data != "{}" {
			f.push(followEvent{kind: evOther, raw: "ping " + ev.Data})
		}
	default:
		f.push(followEvent{kind: evOther, raw: fmt.Sprintf("event %q: %s", ev.Event, ev.Data)})
	}
	return false
}

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/protocol"
)

// Polling paces. A long poll holds briefly so that the tests also see polls
// answered by their timeout; a short-polling client waits between polls,
// as a real one would rather than spin.
const (
	longPollTimeout   = 2 * time.Second
	shortPollInterval = 50 * time.Millisecond
)

// pollFollower follows channels by polling /connection/poll and sending
// each reply's cursor with the next poll: a long poll with a timeout of
// longPollTimeout, or a short poll (timeout=0) every shortPollInterval. The
// token goes in an Authorization: Bearer header.
type pollFollower struct {
	*eventQueue
	spec    followSpec
	client  *http.Client
	timeout time.Duration // 0: short polling

	mu sync.Mutex
	// cursor is the last reply's; first is set until a reply arrives after
	// open or resume.
	cursor string
	first  bool
	rd     connReader
}

var _ follower = (*pollFollower)(nil)

// open starts polling from spec's positions. A channel without one starts
// from now, which for a stateless transport means asking where now is: one
// short poll, answered at once, whose cursor holds every channel's latest
// position.
func (f *pollFollower) open(ctx context.Context, n *node, spec followSpec) error {
	f.spec = spec
	f.cursor, f.first = spec.cursor(), true
	if len(spec.since) < len(spec.channels) {
		ended, err := f.poll(ctx, n, 0)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if ended {
			return err
		}
	}
	f.start(n)
	return nil
}

func (f *pollFollower) resume(ctx context.Context, n *node) error {
	f.cut()
	f.mu.Lock()
	f.first = true
	f.mu.Unlock()
	f.start(n)
	return nil
}

func (f *pollFollower) cut() {
	f.rd.stop()
	f.client.Transport.(*http.Transport).CloseIdleConnections()
}

func (f *pollFollower) close() { f.cut() }

// start runs the polling loop until a poll is refused or fails, or a cut.
func (f *pollFollower) start(n *node) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.rd = connReader{cancel: cancel, done: done}
	go func() {
		defer close(done)
		for {
			if ended, _ := f.poll(ctx, n, f.timeout); ended {
				return
			}
			if f.timeout > 0 {
				continue
			}
			t := time.NewTimer(shortPollInterval)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}()
}

// pollReply is the body of a successful poll.
type pollReply struct {
	Publications []json.RawMessage `json:"publications"`
	Cursor       string            `json:"cursor"`
	Recovered    *bool             `json:"recovered"`
	Gaps         []string          `json:"gaps"`
}

// poll sends one poll and queues what its reply says. It reports ended when
// polling cannot go on: the poll was refused (an error event and an end
// are queued), it failed (an end is queued, and err returned), or ctx ended
// (nothing is queued: a cut).
func (f *pollFollower) poll(ctx context.Context, n *node, timeout time.Duration) (ended bool, err error) {
	f.mu.Lock()
	cursor := f.cursor
	f.mu.Unlock()
	wait := "0" // the short poll of the design, spelled as clients spell it
	if timeout > 0 {
		wait = timeout.String()
	}
	q := url.Values{"channel": f.spec.channels, "timeout": {wait}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/connection/poll?"+q.Encode(), nil)
	if err != nil {
		return true, err
	}
	if f.spec.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.spec.token)
	}
	resp, err := f.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
	}
	switch {
	case ctx.Err() != nil:
		return true, ctx.Err()
	case err != nil:
		f.push(followEvent{kind: evEnd, err: err})
		return true, err
	case resp.StatusCode != http.StatusOK:
		f.push(codedErrorEvent(resp.StatusCode, body), followEvent{kind: evEnd})
		return true, nil
	}
	var rp pollReply
	if err := json.Unmarshal(body, &rp); err != nil || rp.Cursor == "" || rp.Recovered == nil || rp.Gaps == nil || rp.Publications == nil {
		err = fmt.Errorf("malformed poll reply (%v): %s", err, body)
		f.push(followEvent{kind: evEnd, err: err})
		return true, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.push(f.replyEvents(&rp, body)...)
	f.cursor, f.first = rp.Cursor, false
	return false, nil
}

// replyEvents turns a reply into events: each channel's recovery first (on
// the first reply after open or resume; afterwards only channels in gaps),
// then the publications in the order of the reply. Called with f.mu held.
func (f *pollFollower) replyEvents(rp *pollReply, body []byte) []followEvent {
	var evs []followEvent
	if *rp.Recovered != (len(rp.Gaps) == 0) {
		evs = append(evs, followEvent{kind: evOther, raw: "recovered disagrees with gaps: " + string(body)})
	}
	for _, ch := range f.spec.channels {
		gap := slices.Contains(rp.Gaps, ch)
		if f.first || gap {
			evs = append(evs, followEvent{kind: evSubscribed, channel: ch, recovered: !gap})
		}
	}
	for _, raw := range rp.Publications {
		fr, err := protocol.DecodeFrame(raw)
		if err != nil || fr.Type != "" {
			evs = append(evs, followEvent{kind: evOther, raw: string(raw)})
			continue
		}
		evs = append(evs, followEvent{kind: evPublication, pub: fr.Publication()})
	}
	return evs
}

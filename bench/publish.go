package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// publisher sends benchmark publications, each carrying its send time.
// One publisher is used by one goroutine at a time.
type publisher interface {
	// publish returns the publication's offset (0 from the floor).
	publish(ctx context.Context, channel string, size int) (uint64, error)
	close()
}

// apiPublisher publishes through the node's HTTP API, as an application
// backend does.
type apiPublisher struct {
	hc  *http.Client
	url string
	key string
	buf bytes.Buffer
}

func (p *apiPublisher) publish(ctx context.Context, channel string, size int) (uint64, error) {
	p.buf.Reset()
	b := p.buf.AvailableBuffer()
	b = append(b, `{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","data":`...)
	b = appendPayload(b, time.Now(), size)
	b = append(b, '}')
	p.buf.Write(b)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "apikey "+p.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("publish: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	off, i := scanUint(body, keyOffset)
	if i < 0 {
		return 0, fmt.Errorf("publish: no offset in %.200s", body)
	}
	return off, nil
}

func (p *apiPublisher) close() {}

// newPublishers returns n publishers to the node or the floor.
func newPublishers(ctx context.Context, n int, node *Node, transport string) ([]publisher, error) {
	pubs := make([]publisher, 0, n)
	if IsFloor(transport) {
		for range n {
			p, err := dialFloorPublisher(ctx, node.Addr)
			if err != nil {
				closePublishers(pubs)
				return nil, err
			}
			pubs = append(pubs, p)
		}
		return pubs, nil
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true, TLSClientConfig: node.TLS}}
	for range n {
		pubs = append(pubs, &apiPublisher{hc: hc, url: node.URL + "/api/publish", key: node.APIKey})
	}
	return pubs, nil
}

func closePublishers(pubs []publisher) {
	for _, p := range pubs {
		p.close()
	}
}

// schedule decides when each publication goes and to which channel: at a
// fixed rate, or flat out with at most window publications' deliveries
// outstanding, so the node is kept busy without its queues overflowing.
type schedule struct {
	sink     *sink
	channels []string
	perChan  []int64 // subscribers of each channel
	rate     float64 // publications per second; 0: flat out
	window   int64   // deliveries allowed outstanding when flat out
	start    time.Time
	end      time.Time
	limit    int64 // publications at most (0: none)

	halt      atomic.Bool  // no publication after this is set
	next      atomic.Int64 // the next publication's number
	published atomic.Int64 // publications the node accepted

	// onPublished, when set, is told each publication's channel and
	// offset.
	onPublished func(ch int, offset uint64)
	expected    atomic.Int64 // deliveries the publications so far should make
}

// errStalled is returned when deliveries stop coming while publications
// are outstanding.
var errStalled = fmt.Errorf("no delivery for %s with publications outstanding", stallTimeout)

const stallTimeout = 10 * time.Second

// take returns the channel of the next publication, waiting for its time
// (fixed rate) or for room in the window (flat out); ok is false once the
// run is over.
func (s *schedule) take(ctx context.Context) (ch int, ok bool, err error) {
	k := s.next.Add(1) - 1
	if s.halt.Load() || s.limit > 0 && k >= s.limit {
		return 0, false, nil
	}
	ch = int(k % int64(len(s.channels)))
	if s.rate > 0 {
		at := s.start.Add(time.Duration(float64(k) / s.rate * float64(time.Second)))
		if at.After(s.end) {
			return 0, false, nil
		}
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return 0, false, ctx.Err()
			}
		}
		if s.halt.Load() {
			return 0, false, nil
		}
		s.expected.Add(s.perChan[ch])
		return ch, true, nil
	}
	for {
		if time.Now().After(s.end) {
			return 0, false, nil
		}
		if err := s.waitRoom(ctx); err != nil {
			return 0, false, err
		}
		exp := s.expected.Add(s.perChan[ch])
		if exp-s.sink.delivered.Load() <= s.window+s.perChan[ch] {
			return ch, true, nil
		}
		s.expected.Add(-s.perChan[ch]) // another publisher took the room
	}
}

// waitRoom waits until fewer than window deliveries are outstanding.
func (s *schedule) waitRoom(ctx context.Context) error {
	last := s.sink.delivered.Load()
	stall := time.Now()
	for s.expected.Load()-s.sink.delivered.Load() > s.window {
		s.sink.waiting.Store(true)
		// Re-check after announcing the wait: a delivery between the
		// check and the announcement would otherwise go unnoticed.
		if s.expected.Load()-s.sink.delivered.Load() <= s.window {
			break
		}
		select {
		case <-s.sink.wake:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if d := s.sink.delivered.Load(); d != last {
			last, stall = d, time.Now()
		} else if time.Since(stall) > stallTimeout {
			return errStalled
		}
	}
	s.sink.waiting.Store(false)
	return nil
}

// drain waits until every expected delivery arrived, or none arrived for a
// while, or ctx ended.
func drain(ctx context.Context, s *sink, expected int64, quiet time.Duration) {
	last := s.delivered.Load()
	stall := time.Now()
	for s.delivered.Load() < expected && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
		if d := s.delivered.Load(); d != last {
			last, stall = d, time.Now()
		} else if time.Since(stall) > quiet {
			return
		}
	}
}

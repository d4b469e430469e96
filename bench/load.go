package bench

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The payload of every benchmark publication is a JSON object carrying the
// moment it was sent, padded to the requested size:
//
//	{"t":1763884800123456789,"p":"xxxx…"}
//
// so a subscriber finds the publish time with a byte search, without
// decoding anything: the load generator must cost far less per delivery
// than the node it measures.
const payloadOverhead = len(`{"t":1763884800123456789,"p":""}`)

// MinPayload is the smallest payload size the scenarios accept.
const MinPayload = payloadOverhead

// appendPayload appends a payload of exactly size bytes sent at t.
func appendPayload(dst []byte, t time.Time, size int) []byte {
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, t.UnixNano(), 10)
	dst = append(dst, `,"p":"`...)
	for i := payloadOverhead; i < size; i++ {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

var (
	keyOffset = []byte(`"offset":`)
	keyT      = []byte(`"t":`)
)

// scanUint finds key in b and parses the unsigned number after it. It
// returns the number and the index just past it, or -1 when key is absent.
func scanUint(b, key []byte) (uint64, int) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, -1
	}
	i += len(key)
	var v uint64
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		v = v*10 + uint64(b[j]-'0')
	}
	if j == i {
		return 0, -1
	}
	return v, j
}

// scanPublication reads the offset and the send time of one publication's
// JSON (a WebSocket message frame, an SSE data line, a poll reply entry) and
// returns the index just past the send time.
func scanPublication(b []byte) (offset uint64, sent int64, end int) {
	offset, i := scanUint(b, keyOffset)
	if i < 0 {
		return 0, 0, -1
	}
	t, j := scanUint(b[i:], keyT)
	if j < 0 {
		return 0, 0, -1
	}
	return offset, int64(t), i + j
}

// latencyShards spreads latency recording over several histograms, so
// thousands of readers do not contend on one lock.
const latencyShards = 64

// sink counts what every subscriber of one run receives: deliveries,
// duplicates and gaps by offset, and publish→deliver latency.
type sink struct {
	delivered  atomic.Int64
	duplicates atomic.Int64
	gaps       atomic.Int64 // offsets skipped between two deliveries
	recording  atomic.Bool  // latencies are recorded only while measuring

	shards [latencyShards]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
		_  [40]byte // keep shards on separate cache lines
	}

	// waiting is set by a publisher waiting for deliveries to catch up;
	// wake then tells it of progress.
	waiting atomic.Bool
	wake    chan struct{}
}

// Latencies are recorded in microseconds, from 1 µs to 100 s.
const maxLatencyMicros = 100_000_000

func newSink() *sink {
	s := &sink{wake: make(chan struct{}, 1)}
	for i := range s.shards {
		s.shards[i].h = hdrhistogram.New(1, maxLatencyMicros, 3)
	}
	return s
}

// position is one subscriber's place in its channel; only the subscriber's
// own goroutine touches it.
type position struct {
	last    uint64
	started bool
}

// deliver records one publication received by the subscriber with index i.
func (s *sink) deliver(i int, pos *position, offset uint64, sent int64) {
	if pos.started && offset <= pos.last {
		s.duplicates.Add(1)
		return
	}
	if pos.started && offset > pos.last+1 {
		s.gaps.Add(int64(offset - pos.last - 1))
	}
	pos.last, pos.started = offset, true
	if s.recording.Load() && sent > 0 {
		us := (time.Now().UnixNano() - sent) / 1000
		us = min(max(us, 1), maxLatencyMicros)
		sh := &s.shards[i%latencyShards]
		sh.mu.Lock()
		_ = sh.h.RecordValue(us)
		sh.mu.Unlock()
	}
	s.delivered.Add(1)
	if s.waiting.Load() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// histogram merges the shards.
func (s *sink) histogram() *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, maxLatencyMicros, 3)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		h.Merge(sh.h)
		sh.mu.Unlock()
	}
	return h
}

// Latency summarizes publish→deliver latencies.
type Latency struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

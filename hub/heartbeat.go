package hub

import (
	"context"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// numBuckets spreads keep-alives: each tick of PingInterval/numBuckets visits
// one bucket, so pings go out evenly and no session needs a timer of its own.
const numBuckets = 16

var zeroTime time.Time

type heartbeat struct {
	buckets [numBuckets]struct {
		mu sync.Mutex
		m  map[*Session]struct{}
	}
	expMu    sync.Mutex
	expiring map[*Session]time.Time
}

func (hb *heartbeat) init() {
	for i := range hb.buckets {
		hb.buckets[i].m = make(map[*Session]struct{})
	}
	hb.expiring = make(map[*Session]time.Time)
}

func (hb *heartbeat) add(s *Session) {
	b := &hb.buckets[s.bucket]
	b.mu.Lock()
	b.m[s] = struct{}{}
	b.mu.Unlock()
}

func (hb *heartbeat) remove(s *Session) {
	b := &hb.buckets[s.bucket]
	b.mu.Lock()
	delete(b.m, s)
	b.mu.Unlock()
}

// trackExpiry records when a session's token expires; the zero time stops
// tracking.
func (h *Hub) trackExpiry(s *Session, at time.Time) {
	hb := &h.hb
	hb.expMu.Lock()
	if at.IsZero() {
		delete(hb.expiring, s)
	} else {
		hb.expiring[s] = at
	}
	hb.expMu.Unlock()
}

func (h *Hub) runHeartbeat(ctx context.Context) {
	t := time.NewTicker(h.cfg.PingInterval / numBuckets)
	defer t.Stop()
	pings := make(map[Encoder][]byte)
	var batch []*Session
	for i := 0; ; i = (i + 1) % numBuckets {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch = h.hb.snapshot(i, batch[:0])
		for _, s := range batch {
			if s.pong && s.awaitingPong.Swap(true) {
				s.Disconnect(stream.ErrNoPong)
				continue
			}
			b, ok := pings[s.enc]
			if !ok {
				b = s.enc.Ping()
				pings[s.enc] = b
			}
			switch {
			case b == nil:
			case s.direct != nil && s.direct.Claim():
				// An idle connection takes the ping as fan-out gives it
				// a publication, without waking its writer; one with
				// something queued or a writer running gets it queued.
				s.direct.WriteNow(Item{Bytes: b})
			default:
				s.Send(b)
			}
		}
		clear(batch)
		h.expireTokens(time.Now())
	}
}

func (hb *heartbeat) snapshot(i int, dst []*Session) []*Session {
	b := &hb.buckets[i]
	b.mu.Lock()
	for s := range b.m {
		dst = append(dst, s)
	}
	b.mu.Unlock()
	return dst
}

func (h *Hub) expireTokens(now time.Time) {
	var expired []*Session
	h.hb.expMu.Lock()
	for s, at := range h.hb.expiring {
		if !now.Before(at) {
			expired = append(expired, s)
			delete(h.hb.expiring, s)
		}
	}
	h.hb.expMu.Unlock()
	for _, s := range expired {
		s.Disconnect(stream.ErrTokenExpired)
	}
}

package ratelimit

import (
	"container/list"
	"crypto/sha256"
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys is how many clients a Limiter remembers when New is given
// none: at about 200 bytes an entry (keys are at most maxKeyLen bytes), some
// 20 MiB at most.
const DefaultMaxKeys = 100_000

// maxKeyLen is the longest key kept as given; a longer one is kept as its
// SHA-256, so a client's key costs the table a bounded amount whatever it
// is.
const maxKeyLen = 64

// Limiter gives every key a token bucket: rate requests a second on
// average, burst at once. It remembers at most maxKeys keys; when full, the
// key used least recently is forgotten (a client forgotten starts again
// with a full bucket, which is what it would have after burst/rate seconds
// of quiet anyway). It is safe for concurrent use.
type Limiter struct {
	rate  float64
	burst float64
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front: used most recently
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// New returns a Limiter allowing rate requests a second and burst at once
// per key, remembering at most maxKeys keys (DefaultMaxKeys when 0 or
// less). A rate of 0 or less allows everything.
func New(rate float64, burst, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{rate: rate, burst: float64(max(burst, 1)), max: maxKeys, keys: make(map[string]*list.Element)}
}

// Allow takes one request from key's budget at now. When there is none
// left it reports false and how long until there will be one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = string(sum[:])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	} else {
		if len(l.keys) >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.keys, old.Value.(*bucket).key)
		}
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.keys[key] = l.lru.PushFront(b)
	}
	if b.tokens < 1 {
		wait := (1 - b.tokens) / l.rate
		return false, time.Duration(math.Ceil(wait * float64(time.Second)))
	}
	b.tokens--
	return true, 0
}

// Len is how many keys the Limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// Rate is the requests a second each key is allowed on average.
func (l *Limiter) Rate() float64 { return l.rate }

package relay

import "time"

// LogInterval is how often the relay logs, per channel, what it could not
// read: a node meeting a stream of unreadable publications (a rolling
// upgrade across a format change, a broker too old for the node) logs
// each channel once an interval, with how many it left unsaid, rather than
// once a publication.
const LogInterval = time.Minute

// maxLimited bounds the channels a limiter remembers; past it, those not
// logged within LogInterval are forgotten.
const maxLimited = 4096

// limiter decides which log lines of a kind, per channel, get written. Its
// zero value is ready; it is not safe for concurrent use (the relay's one
// goroutine uses it).
type limiter struct {
	seen map[string]*limited
}

type limited struct {
	last       time.Time
	suppressed int
}

// allow reports whether a line about channel ch may be written now, and
// how many were suppressed since the last one that was.
func (l *limiter) allow(ch string) (ok bool, suppressed int) {
	now := time.Now()
	if l.seen == nil {
		l.seen = make(map[string]*limited)
	}
	e := l.seen[ch]
	if e == nil {
		if len(l.seen) >= maxLimited {
			l.forget(now)
		}
		l.seen[ch] = &limited{last: now}
		return true, 0
	}
	if now.Sub(e.last) < LogInterval {
		e.suppressed++
		return false, 0
	}
	suppressed = e.suppressed
	e.last, e.suppressed = now, 0
	return true, suppressed
}

// forget drops the channels not logged within LogInterval, and everything
// if that is not enough to make room.
func (l *limiter) forget(now time.Time) {
	for ch, e := range l.seen {
		if now.Sub(e.last) >= LogInterval {
			delete(l.seen, ch)
		}
	}
	if len(l.seen) >= maxLimited {
		clear(l.seen)
	}
}

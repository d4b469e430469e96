package hub

// Counted reports the bytes the session has queued and the bytes of live
// publications its replaying subscriptions buffer, both counted against
// [Config.QueueLimit].
func (s *Session) Counted() (queued, buffered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued, s.buffered
}

// LiveBufferCap is the most bytes of live publications one subscription of
// h buffers while it replays.
func LiveBufferCap(h *Hub) int { return h.liveBufferCap() }

// ReplayStall is how long a replay waits for a writer that takes nothing.
const ReplayStall = replayStall

// SameShard reports whether two channels share a shard of h's.
func SameShard(h *Hub, a, b string) bool { return h.shardOf(a) == h.shardOf(b) }

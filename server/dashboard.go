package server

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime/metrics"
	"time"

	"github.com/switchboardhq/switchboard/internal/cputime"
	"github.com/switchboardhq/switchboard/stream"
)

// The dashboard feed publishes the node's own figures to one channel at a
// steady rate, so the demo dashboard page (web/static/dashboard.html) has a
// live source with nothing else running. Every node of a cluster publishes
// to the same channel; each publication names its node.

// defaultDashboardInterval gives the page ten updates a second.
const defaultDashboardInterval = 100 * time.Millisecond

// nodeFigures is one dashboard publication.
type nodeFigures struct {
	Node   string `json:"node"`
	Broker string `json:"broker"`
	// Uptime is in seconds.
	Uptime float64 `json:"uptime"`
	// Sessions counts open sessions by transport.
	Sessions      map[stream.Transport]int64 `json:"sessions"`
	Subscriptions int64                      `json:"subscriptions"`
	Channels      int                        `json:"channels"`
	Publications  uint64                     `json:"publications"`
	Deliveries    uint64                     `json:"deliveries"`
	// PublicationRate and DeliveryRate are per second, over the last
	// interval.
	PublicationRate float64 `json:"publication_rate"`
	DeliveryRate    float64 `json:"delivery_rate"`
	QueueDrops      uint64  `json:"queue_drops"`
	Goroutines      uint64  `json:"goroutines"`
	HeapBytes       uint64  `json:"heap_bytes"`
	// CPU is the share of one core the process used over the last
	// interval (1 = a whole core).
	CPU float64 `json:"cpu"`
}

// feedDashboard publishes nodeFigures to s.cfg.DashboardFeed every
// s.cfg.DashboardInterval until ctx ends. A channel the node refuses (its
// namespace is not configured, or publishing fails for good) ends the feed
// with one warning; a broker that is briefly unavailable only skips ticks.
func (s *Server) feedDashboard(ctx context.Context, addr string) {
	channel := s.cfg.DashboardFeed
	tick := time.NewTicker(s.cfg.DashboardInterval)
	defer tick.Stop()
	samples := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	name := nodeName(addr)
	metrics.Read(samples)
	var (
		last     = time.Now()
		lastCPU  = cputime.Process()
		lastPubs uint64
		lastDels uint64
		warned   bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			st := s.hub.Stats()
			metrics.Read(samples)
			cpu := cputime.Process()
			secs := now.Sub(last).Seconds()
			f := nodeFigures{
				Node:          name,
				Broker:        s.cfg.BrokerKind,
				Uptime:        now.Sub(s.started).Seconds(),
				Sessions:      st.Sessions,
				Subscriptions: st.Subscriptions,
				Channels:      st.Channels,
				Publications:  st.Publications,
				Deliveries:    st.Deliveries,
				QueueDrops:    st.QueueDrops,
			}
			if secs > 0 {
				f.PublicationRate = float64(st.Publications-lastPubs) / secs
				f.DeliveryRate = float64(st.Deliveries-lastDels) / secs
				f.CPU = max(cpu-lastCPU, 0).Seconds() / secs
			}
			if samples[0].Value.Kind() == metrics.KindUint64 {
				f.Goroutines = samples[0].Value.Uint64()
			}
			if samples[1].Value.Kind() == metrics.KindUint64 {
				f.HeapBytes = samples[1].Value.Uint64()
			}
			last, lastCPU, lastPubs, lastDels = now, cpu, st.Publications, st.Deliveries
			data, err := json.Marshal(f)
			if err != nil {
				s.log.Error("dashboard feed: encoding", "err", err)
				return
			}
			_, err = s.hub.Publish(ctx, stream.PublishRequest{Channel: channel, Data: data})
			switch {
			case err == nil:
				warned = false
			case ctx.Err() != nil:
				return
			case errors.Is(err, stream.ErrUnknownChannel), errors.Is(err, stream.ErrInvalidChannel):
				s.log.Warn("dashboard feed off: its channel cannot be published to", "channel", channel, "err", err)
				return
			case !warned:
				// The broker may come back: keep ticking, and say so once.
				s.log.Warn("dashboard feed: publish failed", "channel", channel, "err", err)
				warned = true
			}
		}
	}
}

// nodeName names this node on the dashboard: its host and the address it
// listens on.
func nodeName(addr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return addr
	}
	return host + " " + addr
}

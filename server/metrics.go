package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
)

// newRegistry returns a registry of the node's metrics. It is the server's
// own, not prometheus.DefaultRegisterer, so two servers in one process do
// not collide and nothing else in the process leaks into /metrics.
func newRegistry(h *hub.Hub, keyStats func() (keys, bytes int64), unreadable func() uint64) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		&hubCollector{hub: h},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if keyStats != nil {
		cs = append(cs, keyCollector(keyStats))
	}
	if unreadable != nil {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchboard_broker_unreadable_total",
			Help: "Live publications from the broker this node could not read: each was filled from history, or reported to its subscribers as a gap.",
		}, func() float64 { return float64(unreadable()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: metrics: %w", err)
		}
	}
	return reg, nil
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// slogPrinter lets promhttp log through the server's logger.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics: " + fmt.Sprint(v...)) }

var (
	connectionsDesc = prometheus.NewDesc("switchboard_connections",
		"Open sessions, by transport.", []string{"transport"}, nil)
	subscriptionsDesc = prometheus.NewDesc("switchboard_subscriptions",
		"Session-channel subscriptions on this node.", nil, nil)
	publicationsDesc = prometheus.NewDesc("switchboard_publications_total",
		"Publications accepted through this node.", nil, nil)
	deliveriesDesc = prometheus.NewDesc("switchboard_deliveries_total",
		"Publications queued to local subscribers.", nil, nil)
	replayedDesc = prometheus.NewDesc("switchboard_replayed_total",
		"Publications replayed from history to resuming subscribers.", nil, nil)
	queueDropsDesc = prometheus.NewDesc("switchboard_queue_drops_total",
		"Sessions disconnected because their outbound queue was full.", nil, nil)
	disconnectsDesc = prometheus.NewDesc("switchboard_disconnects_total",
		"Ended sessions, by transport and disconnect code.", []string{"transport", "code"}, nil)
)

// hubCollector reads hub.Stats at scrape time. The hub keeps its counters
// with atomics on the hot path; copying them per scrape costs nothing while
// nobody scrapes, unlike updating Prometheus metrics on every publication.
type hubCollector struct {
	hub *hub.Hub
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		connectionsDesc, subscriptionsDesc, publicationsDesc, deliveriesDesc,
		replayedDesc, queueDropsDesc, disconnectsDesc,
	} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	for transport, n := range st.Sessions {
		ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(n), string(transport))
	}
	ch <- prometheus.MustNewConstMetric(subscriptionsDesc, prometheus.GaugeValue, float64(st.Subscriptions))
	ch <- prometheus.MustNewConstMetric(publicationsDesc, prometheus.CounterValue, float64(st.Publications))
	ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.CounterValue, float64(st.Deliveries))
	ch <- prometheus.MustNewConstMetric(replayedDesc, prometheus.CounterValue, float64(st.Replayed))
	ch <- prometheus.MustNewConstMetric(queueDropsDesc, prometheus.CounterValue, float64(st.QueueDrops))

	// The hub counts by cause; several causes can share a wire code, and a
	// label set may appear only once per scrape, so sum by code.
	type key struct {
		transport string
		code      uint32
	}
	byCode := make(map[key]uint64, len(st.Disconnects))
	for k, n := range st.Disconnects {
		byCode[key{string(k.Transport), protocol.DisconnectFor(k.Cause).Code}] += n
	}
	for k, n := range byCode {
		ch <- prometheus.MustNewConstMetric(disconnectsDesc, prometheus.CounterValue, float64(n),
			k.transport, strconv.FormatUint(uint64(k.code), 10))
	}
}

var (
	idempotencyKeysDesc = prometheus.NewDesc("switchboard_idempotency_keys",
		"Idempotency keys the broker remembers in this node's memory, expired ones not yet swept included.", nil, nil)
	idempotencyKeyBytesDesc = prometheus.NewDesc("switchboard_idempotency_key_bytes",
		"Bytes those idempotency keys count against limits.key_bytes.", nil, nil)
)

// keyCollector reads the broker's key store counters at scrape time.
type keyCollector func() (keys, bytes int64)

func (c keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- idempotencyKeysDesc
	ch <- idempotencyKeyBytesDesc
}

func (c keyCollector) Collect(ch chan<- prometheus.Metric) {
	keys, bytes := c()
	ch <- prometheus.MustNewConstMetric(idempotencyKeysDesc, prometheus.GaugeValue, float64(keys))
	ch <- prometheus.MustNewConstMetric(idempotencyKeyBytesDesc, prometheus.GaugeValue, float64(bytes))
}

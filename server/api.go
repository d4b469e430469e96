package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// broadcastParallelism caps how many publishes of one broadcast are in
// flight at once: enough to hide a networked broker's round trips, few
// enough that one request cannot monopolize it.
const broadcastParallelism = 16

// publish: POST /api/publish {channel, data, key?} → {epoch, offset}, the
// shapes of [protocol.PublishRequest] and [protocol.PublishReply].
func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	var req protocol.PublishRequest
	if err := transport.ReadJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	data, err := protocol.RequireData(req.Data)
	if err != nil {
		return err
	}
	res, err := s.hub.Publish(r.Context(), stream.PublishRequest{Channel: req.Channel, Data: data, Key: req.Key})
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, protocol.NewPublishReply(res))
	return nil
}

type broadcastRequest struct {
	Channels []string        `json:"channels"`
	Data     json.RawMessage `json:"data"`
	Key      string          `json:"key"`
}

type broadcastResult struct {
	Channel   string          `json:"channel"`
	Epoch     string          `json:"epoch,omitempty"`
	Offset    uint64          `json:"offset,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Error     *protocol.Error `json:"error,omitempty"`
}

// broadcast: POST /api/broadcast {channels, data, key?} → {results: [...]}.
// A problem with the request as a whole is an error response; a problem
// with one channel is that channel's result, and the others are published.
// The key, when given, applies to each channel separately, so retrying a
// broadcast that half failed publishes only where it had not.
func (s *Server) broadcast(w http.ResponseWriter, r *http.Request) error {
	var req broadcastRequest
	if err := transport.ReadJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	data, err := protocol.RequireData(req.Data)
	if err != nil {
		return err
	}
	if len(req.Channels) == 0 {
		return fmt.Errorf("%w: channels must list at least one channel", stream.ErrBadRequest)
	}
	if max := s.hub.Config().MaxMessageSize; len(data) > max {
		return fmt.Errorf("%w: data of %d bytes, at most %d", stream.ErrMessageTooLarge, len(data), max)
	}
	seen := make(map[string]bool, len(req.Channels))
	for _, ch := range req.Channels {
		if seen[ch] {
			return fmt.Errorf("%w: channel %q is listed twice", stream.ErrBadRequest, ch)
		}
		seen[ch] = true
	}

	results := make([]broadcastResult, len(req.Channels))
	sem := make(chan struct{}, broadcastParallelism)
	var wg sync.WaitGroup
	for i, ch := range req.Channels {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := s.hub.Publish(r.Context(), stream.PublishRequest{Channel: ch, Data: data, Key: req.Key})
			out := broadcastResult{Channel: ch}
			if err != nil {
				e := protocol.ErrorFor(err)
				out.Error = &e
			} else {
				out.Epoch, out.Offset, out.Duplicate = res.Epoch, res.Offset, res.Duplicate
			}
			results[i] = out
		})
	}
	wg.Wait()
	transport.WriteJSON(w, http.StatusOK, map[string][]broadcastResult{"results": results})
	return nil
}

// history: GET /api/history?channel=&since_epoch=&since_offset=&limit=&reverse=
// → {channel, epoch, offset, publications}, a [protocol.HistoryReply].
// epoch and offset are the channel's latest position; publications are in
// the shape every transport sends.
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	q, err := transport.Query(r)
	if err != nil {
		return err
	}
	channel := q.Get("channel")
	hq, err := transport.HistoryQuery(q, transport.CapLimit)
	if err != nil {
		return err
	}
	page, err := s.hub.History(r.Context(), channel, hq)
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, protocol.NewHistoryReply(channel, page))
	return nil
}

// apiPresence: GET /api/presence?channel= → {channel, clients}, a
// [protocol.PresenceReply]: every client in the channel on every node, for
// a namespace with presence on, by client id (brokers list them in no
// particular order).
func (s *Server) apiPresence(w http.ResponseWriter, r *http.Request) error {
	q, err := transport.Query(r)
	if err != nil {
		return err
	}
	channel := q.Get("channel")
	clients, err := s.hub.Presence(r.Context(), channel)
	if err != nil {
		return err
	}
	slices.SortFunc(clients, func(a, b stream.ClientInfo) int { return cmp.Compare(a.Client, b.Client) })
	transport.WriteJSON(w, http.StatusOK, protocol.NewPresenceReply(channel, clients))
	return nil
}

type disconnectRequest struct {
	User string `json:"user"`
}

// disconnect: POST /api/disconnect {user} → {disconnected: N}. It ends the
// user's sessions on every node (N counts this node's; the others act when
// the broker's control message reaches them) and makes every node refuse
// the user's older tokens for a while. A broker that cannot carry the
// message answers 503, with nothing done.
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) error {
	var req disconnectRequest
	if err := transport.ReadJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if req.User == "" {
		return fmt.Errorf("%w: user is required", stream.ErrBadRequest)
	}
	n, err := s.hub.DisconnectUserEverywhere(r.Context(), req.User)
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, map[string]int{"disconnected": n})
	return nil
}

// channels: GET /api/channels → {channels: [{name, subscribers}]}, the
// channels with subscribers on this node, by name.
func (s *Server) channels(w http.ResponseWriter, r *http.Request) error {
	list := s.hub.Channels()
	slices.SortFunc(list, func(a, b hub.ChannelInfo) int { return cmp.Compare(a.Name, b.Name) })
	if list == nil {
		list = []hub.ChannelInfo{}
	}
	transport.WriteJSON(w, http.StatusOK, map[string][]hub.ChannelInfo{"channels": list})
	return nil
}

type infoResponse struct {
	Version       string                     `json:"version"`
	GoVersion     string                     `json:"go_version"`
	Broker        string                     `json:"broker,omitempty"`
	StartedAt     time.Time                  `json:"started_at"`
	UptimeSeconds int64                      `json:"uptime_seconds"`
	Ready         bool                       `json:"ready"`
	Sessions      map[stream.Transport]int64 `json:"sessions"`
	Subscriptions int64                      `json:"subscriptions"`
	Channels      int                        `json:"channels"`
	Publications  uint64                     `json:"publications"`
	Deliveries    uint64                     `json:"deliveries"`
	Replayed      uint64                     `json:"replayed"`
	QueueDrops    uint64                     `json:"queue_drops"`
}

// info: GET /api/info → the node's version, uptime and counters.
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	st := s.hub.Stats()
	transport.WriteJSON(w, http.StatusOK, infoResponse{
		Version:       s.cfg.Version,
		GoVersion:     runtime.Version(),
		Broker:        s.cfg.BrokerKind,
		StartedAt:     s.started.UTC().Truncate(time.Second),
		UptimeSeconds: int64(time.Since(s.started) / time.Second),
		Ready:         !s.draining.Load(),
		Sessions:      st.Sessions,
		Subscriptions: st.Subscriptions,
		Channels:      st.Channels,
		Publications:  st.Publications,
		Deliveries:    st.Deliveries,
		Replayed:      st.Replayed,
		QueueDrops:    st.QueueDrops,
	})
	return nil
}

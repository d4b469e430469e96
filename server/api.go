package server

import (
	"cmp"
	"context"
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

// The API's operations are written once, as the methods named api*: each
// takes its typed input and returns its typed output or an error wrapping a
// stream sentinel. Every check, limit and ordering rule of an operation is
// inside its method. The HTTP handlers (serve*, below) decode JSON and
// query strings, call them and encode JSON; the gRPC service (grpcapi.go)
// decodes protobuf, calls the same methods and encodes protobuf. A backend
// gets the same answer over either.

// broadcastParallelism caps how many publishes of one broadcast are in
// flight at once: enough to hide a networked broker's round trips, few
// enough that one request cannot monopolize it.
const broadcastParallelism = 16

// apiPublish publishes data, one JSON value as the backend sent it (nil:
// none was sent), to channel, with an optional idempotency key.
func (s *Server) apiPublish(ctx context.Context, channel string, data json.RawMessage, key string) (stream.PublishResult, error) {
	data, err := protocol.RequireData(data)
	if err != nil {
		return stream.PublishResult{}, err
	}
	return s.hub.Publish(ctx, stream.PublishRequest{Channel: channel, Data: data, Key: key})
}

// broadcastResult is one channel's outcome of a broadcast: its position,
// or its error.
type broadcastResult struct {
	Channel   string          `json:"channel"`
	Epoch     string          `json:"epoch,omitempty"`
	Offset    uint64          `json:"offset,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Error     *protocol.Error `json:"error,omitempty"`
}

// apiBroadcast publishes data to every channel of channels, with key
// applying to each channel separately, and answers one result per channel
// in the order given. A problem with the request as a whole (no data, data
// too large, no channels, a channel listed twice) is the error, and nothing
// is published; a problem with one channel is that channel's result, and
// the others are published.
func (s *Server) apiBroadcast(ctx context.Context, channels []string, data json.RawMessage, key string) ([]broadcastResult, error) {
	data, err := protocol.RequireData(data)
	if err != nil {
		return nil, err
	}
	if len(channels) == 0 {
		return nil, fmt.Errorf("%w: channels must list at least one channel", stream.ErrBadRequest)
	}
	if max := s.hub.Config().MaxMessageSize; len(data) > max {
		return nil, fmt.Errorf("%w: data of %d bytes, at most %d", stream.ErrMessageTooLarge, len(data), max)
	}
	seen := make(map[string]bool, len(channels))
	for _, ch := range channels {
		if seen[ch] {
			return nil, fmt.Errorf("%w: channel %q is listed twice", stream.ErrBadRequest, ch)
		}
		seen[ch] = true
	}

	results := make([]broadcastResult, len(channels))
	sem := make(chan struct{}, broadcastParallelism)
	var wg sync.WaitGroup
	for i, ch := range channels {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := s.hub.Publish(ctx, stream.PublishRequest{Channel: ch, Data: data, Key: key})
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
	return results, nil
}

// apiHistory reads a page of channel's history. q comes from
// [transport.HistoryQuery] or its gRPC counterpart, which apply the limit
// rules ([transport.HistoryLimit]) with [transport.CapLimit].
func (s *Server) apiHistory(ctx context.Context, channel string, q stream.HistoryQuery) (stream.HistoryPage, error) {
	return s.hub.History(ctx, channel, q)
}

// apiPresence lists every client in channel on every node, for a namespace
// with presence on, by client id (brokers list them in no particular
// order).
func (s *Server) apiPresence(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	clients, err := s.hub.Presence(ctx, channel)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(clients, func(a, b stream.ClientInfo) int { return cmp.Compare(a.Client, b.Client) })
	return clients, nil
}

// apiDisconnect ends user's sessions on every node and makes every node
// refuse the user's older tokens for a while. It answers how many sessions
// it ended on this node; the others act when the broker's control message
// reaches them. A broker that cannot carry the message is an
// [stream.ErrUnavailable] error, with nothing done.
func (s *Server) apiDisconnect(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, fmt.Errorf("%w: user is required", stream.ErrBadRequest)
	}
	return s.hub.DisconnectUserEverywhere(ctx, user)
}

// apiChannels lists the channels with subscribers on this node, by name;
// never nil.
func (s *Server) apiChannels() []hub.ChannelInfo {
	list := s.hub.Channels()
	slices.SortFunc(list, func(a, b hub.ChannelInfo) int { return cmp.Compare(a.Name, b.Name) })
	if list == nil {
		list = []hub.ChannelInfo{}
	}
	return list
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

// apiInfo describes the node: version, uptime and counters.
func (s *Server) apiInfo() infoResponse {
	st := s.hub.Stats()
	return infoResponse{
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
	}
}

// servePublish: POST /api/publish {channel, data, key?} → {epoch, offset},
// the shapes of [protocol.PublishRequest] and [protocol.PublishReply].
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) error {
	var req protocol.PublishRequest
	if err := transport.ReadJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	res, err := s.apiPublish(r.Context(), req.Channel, req.Data, req.Key)
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

// serveBroadcast: POST /api/broadcast {channels, data, key?} → {results:
// [...]}, see [Server.apiBroadcast].
func (s *Server) serveBroadcast(w http.ResponseWriter, r *http.Request) error {
	var req broadcastRequest
	if err := transport.ReadJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	results, err := s.apiBroadcast(r.Context(), req.Channels, req.Data, req.Key)
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, map[string][]broadcastResult{"results": results})
	return nil
}

// serveHistory: GET /api/history?channel=&since_epoch=&since_offset=&limit=&reverse=
// → {channel, epoch, offset, publications}, a [protocol.HistoryReply].
// epoch and offset are the channel's latest position; publications are in
// the shape every transport sends.
func (s *Server) serveHistory(w http.ResponseWriter, r *http.Request) error {
	q, err := transport.Query(r)
	if err != nil {
		return err
	}
	channel := q.Get("channel")
	hq, err := transport.HistoryQuery(q, transport.CapLimit)
	if err != nil {
		return err
	}
	page, err := s.apiHistory(r.Context(), channel, hq)
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, protocol.NewHistoryReply(channel, page))
	return nil
}

// servePresence: GET /api/presence?channel= → {channel, clients}, a
// [protocol.PresenceReply].
func (s *Server) servePresence(w http.ResponseWriter, r *http.Request) error {
	q, err := transport.Query(r)
	if err != nil {
		return err
	}
	channel := q.Get("channel")
	clients, err := s.apiPresence(r.Context(), channel)
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, protocol.NewPresenceReply(channel, clients))
	return nil
}

type disconnectRequest struct {
	User string `json:"user"`
}

// serveDisconnect: POST /api/disconnect {user} → {disconnected: N}, see
// [Server.apiDisconnect].
func (s *Server) serveDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req disconnectRequest
	if err := transport.ReadJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	n, err := s.apiDisconnect(r.Context(), req.User)
	if err != nil {
		return err
	}
	transport.WriteJSON(w, http.StatusOK, map[string]int{"disconnected": n})
	return nil
}

// serveChannels: GET /api/channels → {channels: [{name, subscribers}]}.
func (s *Server) serveChannels(w http.ResponseWriter, r *http.Request) error {
	transport.WriteJSON(w, http.StatusOK, map[string][]hub.ChannelInfo{"channels": s.apiChannels()})
	return nil
}

// serveInfo: GET /api/info → the node's version, uptime and counters.
func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) error {
	transport.WriteJSON(w, http.StatusOK, s.apiInfo())
	return nil
}

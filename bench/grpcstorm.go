package bench

import (
	"context"
	"errors"
	"time"

	"github.com/switchboardhq/switchboard/internal/backoff"
)

// The storm over gRPC. The Go client has no gRPC transport, so each storm
// client is a Subscribe call of the benchmark's own that resumes as the
// client does: its sockets go through stormClient.dial (bound to its
// source address and kept, so the drop closes them under it); when its
// stream ends it waits with the client's backoff (full jitter, from 500 ms
// up to 20 s) and calls Subscribe again with the position it has, the
// epoch and offset of the last publication it counted.

// The Go client's default reconnection bounds (client.DefaultMinBackoff,
// client.DefaultMaxBackoff) and the time after which a connection counts as
// having lasted.
const (
	grpcMinBackoff = 500 * time.Millisecond
	grpcMaxBackoff = 20 * time.Second
	grpcLasted     = 10 * time.Second
)

// runGRPC subscribes to channel and resumes it after every cut until ctx
// ends; subscribed is closed at the first Subscribed event. It returns an
// error only for a refusal that retrying cannot mend.
func (sc *stormClient) runGRPC(ctx context.Context, nodeURL, channel string, subscribed chan struct{}) error {
	tr := newGRPCTransport(sc.dial)
	defer tr.CloseIdleConnections()
	b := backoff.Full(grpcMinBackoff, grpcMaxBackoff)
	started := false
	for ctx.Err() == nil {
		req := grpcChannel{name: channel}
		if started {
			req.epoch, req.offset = sc.epoch, sc.last
		}
		t0 := time.Now()
		s, err := openGRPC(ctx, tr, nodeURL, subscribeRequest(req))
		if err == nil {
			err = sc.readGRPC(s, &started, subscribed)
			s.close()
		}
		if ctx.Err() != nil {
			return nil
		}
		if st := (*errGRPCStatus)(nil); errors.Is(err, errNoReconnect) || errors.As(err, &st) && !st.unavailable() {
			return err
		}
		if time.Since(t0) >= grpcLasted {
			b.Reset()
		}
		if !backoff.Sleep(ctx, b.Next()) {
			return nil
		}
	}
	return nil
}

// errNoReconnect is a Disconnect that tells the client not to come back.
var errNoReconnect = errors.New("grpc: disconnected without reconnect")

// readGRPC counts one stream's events until it ends. The first Subscribed
// of the client's life sets its start; a later one, on a resumed stream,
// must say recovered, or it is a gap.
func (sc *stormClient) readGRPC(s *grpcStream, started *bool, subscribed chan struct{}) error {
	for {
		b, err := s.next()
		if err != nil {
			return err
		}
		ev, err := decodeEvent(b)
		if err != nil {
			return err
		}
		switch ev.kind {
		case evSubscribed:
			if !*started {
				sc.first(string(ev.epoch), ev.offset)
				*started = true
				close(subscribed)
			} else if !ev.recovered {
				sc.gaps++
			}
			sc.checkCaught()
		case evPublication:
			sc.publication(ev.offset)
		case evGap:
			sc.gaps++
		case evDisconnect:
			if !ev.reconnect {
				return errNoReconnect
			}
		}
	}
}

package ws

import (
	"fmt"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// handle runs one command from a connected client and queues its reply.
func (c *conn) handle(cmd protocol.Command) {
	s := c.sess
	var reply []byte
	var err error
	switch cmd.Type {
	case "connect":
		err = fmt.Errorf("%w: already connected", stream.ErrBadRequest)
	case "subscribe":
		_, err = s.Subscribe(c.ctx, cmd.Channel, hub.SubscribeOptions{
			Since: cmd.Since,
			Reply: func(r hub.SubscribeResult) []byte {
				return textFrame(64+len(r.Channel), func(b []byte) []byte {
					return protocol.AppendSubscribeReply(b, cmd.ID, r.Channel, r.Latest, r.Recovered)
				})
			},
		})
		if err == nil {
			return // the reply was queued ahead of the replay
		}
	case "unsubscribe":
		if err = s.Unsubscribe(cmd.Channel); err == nil {
			reply = textFrame(64, func(b []byte) []byte { return protocol.AppendUnsubscribeReply(b, cmd.ID, cmd.Channel) })
		}
	case "publish":
		var res stream.PublishResult
		if res, err = s.Publish(c.ctx, cmd.Channel, cmd.Data, cmd.Key); err == nil {
			reply = textFrame(64, func(b []byte) []byte { return protocol.AppendPublishReply(b, cmd.ID, res.Position) })
		}
	case "history":
		reply, err = c.history(cmd)
	case "presence":
		var clients []stream.ClientInfo
		if clients, err = s.Presence(c.ctx, cmd.Channel); err == nil {
			reply = presenceFrame(cmd, clients)
		}
	case "refresh":
		reply, err = c.refresh(cmd)
	default:
		err = stream.ErrUnknownCommand
	}
	if err != nil {
		reply = errorFrame(cmd, err)
	}
	s.Send(reply)
}

func (c *conn) history(cmd protocol.Command) ([]byte, error) {
	limit := cmd.Limit
	switch {
	case limit == 0:
		limit = transport.DefaultHistoryLimit
	case limit < 0 || limit > transport.MaxHistoryLimit:
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", stream.ErrBadRequest, transport.MaxHistoryLimit)
	}
	page, err := c.sess.History(c.ctx, cmd.Channel, stream.HistoryQuery{Since: cmd.Since, Limit: limit, Reverse: cmd.Reverse})
	if err != nil {
		return nil, err
	}
	size := 64
	for _, p := range page.Publications {
		size += len(p.Data) + 96
	}
	return textFrame(size, func(b []byte) []byte {
		return protocol.AppendHistoryReply(b, cmd.ID, cmd.Channel, page.Publications, page.Latest)
	}), nil
}

func presenceFrame(cmd protocol.Command, clients []stream.ClientInfo) []byte {
	size := 64 + len(cmd.Channel)
	for _, ci := range clients {
		size += 48 + len(ci.Client) + len(ci.User) + len(ci.Info)
	}
	return textFrame(size, func(b []byte) []byte {
		return protocol.AppendPresenceReply(b, cmd.ID, cmd.Channel, clients)
	})
}

func (c *conn) refresh(cmd protocol.Command) ([]byte, error) {
	id, err := transport.Authenticate(c.h.cfg.Verifier, cmd.Token)
	if err != nil {
		return nil, err
	}
	if err := c.sess.Refresh(id); err != nil {
		return nil, err
	}
	var exp int64
	if !id.ExpiresAt.IsZero() {
		exp = id.ExpiresAt.Unix()
	}
	return textFrame(64, func(b []byte) []byte { return protocol.AppendRefreshReply(b, cmd.ID, exp) }), nil
}

package e2e_test

import (
	"context"
	"errors"
	"maps"
	"sync"

	"github.com/switchboardhq/switchboard/internal/wsclient"
	"github.com/switchboardhq/switchboard/protocol"
	"github.com/switchboardhq/switchboard/stream"
)

// wsFollower follows channels over WebSocket with protocol v1: connect
// (with the token, if any), one subscribe per channel with since where it
// has a position, pong to every ping.
type wsFollower struct {
	*eventQueue
	spec followSpec

	mu sync.Mutex
	// pos is the last position received per channel: a publication's, or
	// the latest a subscribe reply reported when nothing before it will
	// come (no since, or not recovered).
	pos map[string]stream.Position
	rd  connReader
}

var _ follower = (*wsFollower)(nil)

func (f *wsFollower) open(ctx context.Context, n *node, spec followSpec) error {
	f.spec = spec
	f.pos = maps.Clone(spec.since)
	if f.pos == nil {
		f.pos = make(map[string]stream.Position)
	}
	return f.connect(ctx, n)
}

func (f *wsFollower) resume(ctx context.Context, n *node) error {
	f.cut()
	return f.connect(ctx, n)
}

func (f *wsFollower) cut() {
	f.rd.stop()
}

func (f *wsFollower) close() { f.cut() }

// connect dials, sends connect and every subscribe at once, and waits until
// each has its reply or the connection has ended.
func (f *wsFollower) connect(ctx context.Context, n *node) error {
	c, _, err := wsclient.Dial(ctx, n.WS, wsclient.Options{})
	if err != nil {
		return err
	}
	pending := map[uint64]string{1: ""} // command id → channel
	var out []byte
	out = protocol.AppendCommand(out[:0], protocol.Command{Type: protocol.TypeConnect, ID: 1, Token: f.spec.token})
	if err := c.WriteText(out); err != nil {
		c.Close()
		return err
	}
	f.mu.Lock()
	for i, ch := range f.spec.channels {
		cmd := protocol.Command{Type: protocol.TypeSubscribe, ID: uint64(i + 2), Channel: ch}
		if p, ok := f.pos[ch]; ok {
			cmd.Since = &p
		}
		pending[cmd.ID] = ch
		out = protocol.AppendCommand(out[:0], cmd)
		if err := c.WriteText(out); err != nil {
			f.mu.Unlock()
			c.Close()
			return err
		}
	}
	f.mu.Unlock()

	rctx, cancel := context.WithCancel(context.Background())
	settled, done := make(chan struct{}), make(chan struct{})
	f.rd = connReader{cancel: func() { cancel(); c.Close() }, done: done}
	go f.read(rctx, c, pending, settled, done)
	select {
	case <-settled:
		return nil
	case <-done:
		return nil // the server ended it; the events say how
	case <-ctx.Done():
		f.cut()
		return ctx.Err()
	}
}

// read turns frames into events until the connection ends. pending holds
// the commands still unanswered; settled is closed when none is left.
func (f *wsFollower) read(ctx context.Context, c *wsclient.Conn, pending map[uint64]string, settled, done chan struct{}) {
	defer close(done)
	for {
		if len(pending) == 0 && settled != nil {
			close(settled)
			settled = nil
		}
		_, b, err := c.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return // cut: say nothing, as a dead network would not
			}
			end := followEvent{kind: evEnd, err: err}
			if ce, ok := errors.AsType[*wsclient.CloseError](err); ok {
				end.code, end.err = uint32(ce.Code), nil
			}
			f.push(end)
			return
		}
		fr, err := protocol.DecodeFrame(b)
		if err != nil {
			f.push(followEvent{kind: evOther, raw: string(b)})
			continue
		}
		switch fr.Type {
		case protocol.TypePing:
			_ = c.WriteText(protocol.AppendCommand(nil, protocol.Command{Type: protocol.TypePong}))
		case protocol.TypeMessage:
			f.mu.Lock()
			f.pos[fr.Channel] = stream.Position{Epoch: fr.Epoch, Offset: fr.Offset}
			f.mu.Unlock()
			f.push(followEvent{kind: evPublication, pub: fr.Publication()})
		case protocol.TypeConnect, protocol.TypeSubscribe:
			ch, ok := pending[fr.ID]
			if !ok {
				f.push(followEvent{kind: evOther, raw: string(b)})
				continue
			}
			delete(pending, fr.ID)
			switch {
			case fr.Error != nil:
				f.push(followEvent{kind: evError, channel: ch, code: fr.Error.Code, reason: fr.Error.Message})
			case fr.Type == protocol.TypeSubscribe:
				f.subscribed(fr)
			}
		case protocol.TypeDisconnect:
			f.push(followEvent{kind: evDisconnect, code: fr.Code, reason: fr.Reason, reconnect: fr.Reconnect})
		default:
			f.push(followEvent{kind: evOther, raw: string(b)})
		}
	}
}

// subscribed records a subscribe reply. A recovered subscription resumes
// from the position sent, and its replay follows; any other starts after
// the channel's latest publication.
func (f *wsFollower) subscribed(fr protocol.Frame) {
	latest := stream.Position{Epoch: fr.Epoch, Offset: fr.Offset}
	f.mu.Lock()
	if _, had := f.pos[fr.Channel]; !had || !fr.Recovered {
		f.pos[fr.Channel] = latest
	}
	f.mu.Unlock()
	f.push(followEvent{kind: evSubscribed, channel: fr.Channel, recovered: fr.Recovered, latest: latest})
}

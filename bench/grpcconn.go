package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
)

// A gRPC subscriber is one switchboard.v1.ClientService/Subscribe call on
// an HTTP/2 connection of its own, over h2c (HTTP/2 with prior knowledge on
// plain TCP), as a backend service without TLS reaches a node. Each has its
// own http.Transport: one shared Transport would multiplex every call onto
// a few connections, and the node would hold far fewer sockets than it does
// for real services.
//
// The subscriber speaks the gRPC framing itself (a flag byte, a 4-byte
// length, the message) and decodes only the fields it needs with protowire,
// so the load generator costs far less per delivery than the node: no
// message is unmarshalled, the send time is found in the data with the same
// byte search as the other transports' readers.

// grpcSubscribePath is the Subscribe method on the node's one listener.
const grpcSubscribePath = "/switchboard.v1.ClientService/Subscribe"

// The fields of SubscribeResponse's event (proto/switchboard/v1/events.proto).
const (
	evConnected    protowire.Number = 1
	evSubscribed   protowire.Number = 2
	evPublication  protowire.Number = 3
	evGap          protowire.Number = 7
	evUnsubscribed protowire.Number = 8
	evDisconnect   protowire.Number = 9
)

// newGRPCTransport returns a Transport that speaks h2c only, dialing with
// dial: one per subscriber, so one connection each.
func newGRPCTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols:          p,
		DialContext:        dial,
		DisableCompression: true,
		MaxIdleConns:       1,
	}
}

// grpcChannel is one channel of a Subscribe request, with the position to
// resume from (epoch empty: live from now).
type grpcChannel struct {
	name   string
	epoch  string
	offset uint64
}

// subscribeRequest is a Subscribe request in gRPC's framing.
func subscribeRequest(chans ...grpcChannel) []byte {
	m := &switchboardv1.SubscribeRequest{}
	for _, c := range chans {
		cr := &switchboardv1.ChannelRequest{Channel: c.name}
		if c.epoch != "" {
			cr.Since = &switchboardv1.Position{Epoch: c.epoch, Offset: c.offset}
		}
		m.Channels = append(m.Channels, cr)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		panic("bench: marshal a subscribe request: " + err.Error())
	}
	out := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

// grpcStream is one Subscribe call's response. One goroutine reads it.
type grpcStream struct {
	body io.ReadCloser
	resp *http.Response
	br   *bufio.Reader
	hdr  [5]byte
	buf  []byte
}

// errGRPCStatus is a call that ended with a status other than OK.
type errGRPCStatus struct {
	code    string
	message string
}

func (e *errGRPCStatus) Error() string {
	return fmt.Sprintf("grpc status %s: %s", e.code, e.message)
}

// unavailable reports whether the node asked the client to come back
// (Unavailable, the status of a stream it cut with reconnect set).
func (e *errGRPCStatus) unavailable() bool { return e.code == "14" }

// openGRPC sends a Subscribe request over hc and returns once the
// response's headers arrived. The call lasts as long as ctx.
func openGRPC(ctx context.Context, hc *http.Transport, nodeURL string, req []byte) (*grpcStream, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, nodeURL+grpcSubscribePath, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/grpc")
	r.Header.Set("Te", "trailers")
	resp, err := hc.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		resp.Body.Close()
		return nil, fmt.Errorf("grpc: HTTP status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if code := resp.Header.Get("Grpc-Status"); code != "" && code != "0" {
		// A trailers-only response: the call was refused.
		resp.Body.Close()
		return nil, &errGRPCStatus{code: code, message: resp.Header.Get("Grpc-Message")}
	}
	return &grpcStream{body: resp.Body, resp: resp, br: bufio.NewReaderSize(resp.Body, 2048)}, nil
}

// next returns the next message of the stream, valid until the next call.
// At the end of the stream it returns the call's status as an
// *errGRPCStatus (io.EOF for OK).
func (s *grpcStream) next() ([]byte, error) {
	if _, err := io.ReadFull(s.br, s.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, s.status()
		}
		return nil, err
	}
	if s.hdr[0] != 0 {
		return nil, fmt.Errorf("grpc: message flags %#x: compression was not asked for", s.hdr[0])
	}
	n := int(binary.BigEndian.Uint32(s.hdr[1:]))
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := io.ReadFull(s.br, s.buf); err != nil {
		return nil, err
	}
	return s.buf, nil
}

// status is the call's status from its trailers, once the body is read.
func (s *grpcStream) status() error {
	code := s.resp.Trailer.Get("Grpc-Status")
	if code == "" || code == "0" {
		return io.EOF
	}
	return &errGRPCStatus{code: code, message: s.resp.Trailer.Get("Grpc-Message")}
}

func (s *grpcStream) close() { s.body.Close() }

// grpcEvent is what the load generator needs of one SubscribeResponse.
// Its byte slices point into the message.
type grpcEvent struct {
	kind      protowire.Number // the event's field: evPublication, ...
	epoch     []byte           // Subscribed, Publication
	offset    uint64           // Subscribed, Publication
	data      []byte           // Publication
	recovered bool             // Subscribed
	code      uint64           // Disconnect
	reason    []byte           // Disconnect
	reconnect bool             // Disconnect
}

// decodeEvent reads one SubscribeResponse's event with protowire, skipping
// every field it does not need.
func decodeEvent(b []byte) (grpcEvent, error) {
	var ev grpcEvent
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		return ev, errors.New("grpc: malformed event")
	}
	inner, m := protowire.ConsumeBytes(b[n:])
	if m < 0 {
		return ev, errors.New("grpc: malformed event")
	}
	ev.kind = num
	switch num {
	case evSubscribed, evPublication, evDisconnect:
	default:
		return ev, nil
	}
	for len(inner) > 0 {
		f, t, n := protowire.ConsumeTag(inner)
		if n < 0 {
			return ev, errors.New("grpc: malformed event field")
		}
		inner = inner[n:]
		var v uint64
		var bs []byte
		switch t {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(inner)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(inner)
		default:
			n = protowire.ConsumeFieldValue(f, t, inner)
		}
		if n < 0 {
			return ev, errors.New("grpc: malformed event field")
		}
		inner = inner[n:]
		switch {
		case num == evDisconnect && f == 1:
			ev.code = v
		case num == evDisconnect && f == 2:
			ev.reason = bs
		case num == evDisconnect && f == 3:
			ev.reconnect = v != 0
		case num == evDisconnect:
		case f == 2: // Subscribed.epoch, Publication.epoch
			ev.epoch = bs
		case f == 3: // Subscribed.offset, Publication.offset
			ev.offset = v
		case num == evSubscribed && f == 4:
			ev.recovered = v != 0
		case num == evPublication && f == 4:
			ev.data = bs
		}
	}
	return ev, nil
}

// sentAt is the send time a benchmark payload carries (see appendPayload),
// 0 when it has none.
func sentAt(data []byte) int64 {
	t, i := scanUint(data, keyT)
	if i < 0 {
		return 0
	}
	return int64(t)
}

// grpcSockets dials a subscriber's connections and remembers them, so that
// ending the subscriber closes its socket: closing a response body only
// resets the HTTP/2 stream, and the transport keeps the connection until it
// is idle, which it may not be yet when CloseIdleConnections runs (the node
// then holds the socket until the process exits).
type grpcSockets struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	mu    sync.Mutex
	conns []net.Conn
}

func (g *grpcSockets) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.dial(ctx, network, addr)
	if err == nil {
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
	}
	return c, err
}

func (g *grpcSockets) close() {
	g.mu.Lock()
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// openGRPCSubscriber subscribes to channel from now on, over a connection
// of its own, and returns once the Subscribed event arrived; the stream
// lasts as long as streamCtx, ctx bounds the opening. end closes the
// stream and its socket.
func openGRPCSubscriber(ctx, streamCtx context.Context, nodeURL string, d *net.Dialer, channel string) (s *grpcStream, end func(), err error) {
	socks := &grpcSockets{dial: d.DialContext}
	tr := newGRPCTransport(socks.DialContext)
	s, err = openGRPC(streamCtx, tr, nodeURL, subscribeRequest(grpcChannel{name: channel}))
	if err != nil {
		tr.CloseIdleConnections()
		socks.close()
		return nil, nil, err
	}
	end = func() {
		s.close()
		tr.CloseIdleConnections()
		socks.close()
	}
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	for {
		b, err := s.next()
		if err != nil {
			end()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, nil, fmt.Errorf("grpc: before the subscribed event: %w", err)
		}
		ev, err := decodeEvent(b)
		if err != nil {
			end()
			return nil, nil, err
		}
		if ev.kind == evSubscribed {
			return s, end, nil
		}
	}
}

// openGRPC is a fleet's gRPC subscriber: it counts publications as the
// other transports' readers do.
func (f *fleet) openGRPC(ctx context.Context, i int, channel string) error {
	s, end, err := openGRPCSubscriber(ctx, f.ctx, f.nodeURL, f.src.dialer(), channel)
	if err != nil {
		return err
	}
	var pos position
	read := func() {
		defer end()
		for {
			b, err := s.next()
			if err == nil {
				var ev grpcEvent
				if ev, err = decodeEvent(b); err == nil {
					switch ev.kind {
					case evPublication:
						f.sink.deliver(i, &pos, ev.offset, sentAt(ev.data))
						continue
					case evDisconnect:
						f.endedWith(fmt.Sprintf("disconnect %d %s", ev.code, ev.reason))
						return
					case evUnsubscribed:
						f.endedWith("unsubscribed")
						return
					default:
						continue
					}
				}
			}
			f.endedWith(err.Error())
			return
		}
	}
	f.start(read, s.close)
	return nil
}

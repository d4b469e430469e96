package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The broker reads single messages with the stream's MSG.GET request,
// answered by the stream's leader, so a read never sees less than what an
// acknowledged publish stored. It builds the request itself because it
// needs start_time, which nats.go's Stream.GetMsg does not offer.

// getRequest is the body of $JS.API.STREAM.MSG.GET.<stream>.
type getRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

type getResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Subject  string    `json:"subject"`
		Sequence uint64    `json:"seq"`
		Header   []byte    `json:"hdrs,omitempty"`
		Data     []byte    `json:"data,omitempty"`
		Time     time.Time `json:"time"`
	} `json:"message,omitempty"`
}

// rawMsg is one stored message as MSG.GET returned it.
type rawMsg struct {
	subject string
	seq     uint64
	header  natsgo.Header
	data    []byte
	time    time.Time
}

var errNotFound = errors.New("no such message")

// get runs one MSG.GET; it returns errNotFound when no message matches.
func (b *Broker) get(ctx context.Context, req getRequest) (rawMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return rawMsg{}, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	reply, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+b.cfg.Stream, body)
	if err != nil {
		return rawMsg{}, err
	}
	var resp getResponse
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return rawMsg{}, fmt.Errorf("%w: %w", jetstream.ErrInvalidJSAck, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return rawMsg{}, errNotFound
		}
		return rawMsg{}, resp.Error
	}
	m := resp.Message
	if m == nil {
		return rawMsg{}, jetstream.ErrInvalidJSAck
	}
	r := rawMsg{subject: m.Subject, seq: m.Sequence, data: m.Data, time: m.Time}
	if len(m.Header) > 0 {
		if r.header, err = natsgo.DecodeHeadersMsg(m.Header); err != nil {
			return rawMsg{}, fmt.Errorf("%w: message %d headers: %w", errMalformed, m.Sequence, err)
		}
	}
	return r, nil
}

// getEntry is get for a message of a channel's subject.
func (b *Broker) getEntry(ctx context.Context, req getRequest) (entry, error) {
	m, err := b.get(ctx, req)
	if err != nil {
		return entry{}, err
	}
	return readEntry(m.seq, m.header, m.data, m.time)
}

// last reads the newest message of a channel: its latest publication or
// the marker of an epoch without publications. ok is false when the stream
// holds nothing of the channel.
func (b *Broker) last(ctx context.Context, ch string) (e entry, ok bool, err error) {
	e, err = b.getEntry(ctx, getRequest{LastFor: b.channelSubject(ch)})
	if errors.Is(err, errNotFound) {
		return entry{}, false, nil
	}
	return e, err == nil, err
}

// purgeKeep and purgeBefore say which of a channel's messages purge deletes:
// all but the newest n, or those before stream sequence seq.
type purgeOpt struct {
	Keep uint64 `json:"keep,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
}

func purgeKeep(n uint64) purgeOpt     { return purgeOpt{Keep: n} }
func purgeBefore(seq uint64) purgeOpt { return purgeOpt{Seq: seq} }

// purge deletes some of a channel's oldest messages.
func (b *Broker) purge(ctx context.Context, ch string, opt purgeOpt) error {
	body, err := json.Marshal(struct {
		Filter string `json:"filter"`
		purgeOpt
	}{b.channelSubject(ch), opt})
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	reply, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+b.cfg.Stream, body)
	if err != nil {
		return err
	}
	var resp struct {
		Error *jetstream.APIError `json:"error,omitempty"`
	}
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	return nil
}

// maxBatch caps one batch direct get; the server may end a batch sooner
// (it also caps the bytes), and the caller asks again from where it ended.
const maxBatch = 1024

// getBatch reads up to n messages of subject from stream sequence seq on,
// with one direct get: any replica may answer, so the caller checks that
// what came back is what it expected. Fewer than n come back when the
// subject has no more, or the server capped the batch.
func (b *Broker) getBatch(ctx context.Context, subject string, seq uint64, n int) ([]entry, error) {
	body, err := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{seq, subject, n})
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	inbox := b.nc.NewInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest("$JS.API.DIRECT.GET."+b.cfg.Stream, inbox, body); err != nil {
		return nil, err
	}
	out := make([]entry, 0, n)
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, err
		}
		if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 {
			switch status {
			case "204", "404": // the end of the batch; nothing (more) there
				return out, nil
			default:
				return nil, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
			}
		}
		e, err := readLive(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// store publishes m to the stream, on condition that the newest message of
// its subject is the one with stream sequence prev (0: none). conflict is
// true when it was not, and nothing was stored.
func (b *Broker) store(ctx context.Context, m *natsgo.Msg, prev uint64, opts ...jetstream.PublishOpt) (ack *jetstream.PubAck, conflict bool, err error) {
	opts = append(opts, jetstream.WithExpectLastSequencePerSubject(prev), jetstream.WithRetryAttempts(0))
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	ack, err = b.js.PublishMsg(ctx, m, opts...)
	if err == nil {
		return ack, false, nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return nil, true, nil
	}
	return nil, false, err
}

// withStream runs op, and once more after recreating the stream if op
// failed because the stream is not there.
func (b *Broker) withStream(ctx context.Context, op func() error) error {
	err := op()
	if err == nil || !streamLost(err) || ctx.Err() != nil {
		return err
	}
	if serr := b.ensureStream(ctx); serr != nil {
		return errors.Join(err, serr)
	}
	b.log.Warn("nats: the stream was missing and has been created again; channels start new epochs", "stream", b.cfg.Stream)
	return op()
}

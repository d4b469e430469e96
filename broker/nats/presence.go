package nats

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/stream"
)

// Presence is the NATS presence: every node sharing a NATS account, stream
// name and prefix sees the same entries, and each node's Run receives every
// node's join and leave events. It satisfies hub.Presence for nodes on the
// NATS broker. Create it with NewPresence from the node's Broker, whose
// connection it shares; close the Broker when done. All methods are safe
// for concurrent use.
//
// Entries live in a JetStream key-value bucket kept in memory (the stream's
// name with "_PRESENCE"), one key per channel and client, created on first
// use. An entry's value holds the client's info and when it expires, by
// the clock of the node that added or refreshed it; a node that finds an
// expired entry (listing, adding or removing) deletes it — on condition
// that nobody refreshed it meanwhile — and announces the leave. The bucket
// drops entries a day old whatever they say, so an abandoned channel costs
// nothing for long.
//
// Join and leave events travel over core NATS on one subject shared by all
// channels ("<prefix>.presence"): nodes filter what they have no
// subscriber for. Events published while a node is disconnected are not
// replayed to it (the lists are unaffected; only pushes are lost).
type Presence struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	bucket  string
	events  string
	storage jetstream.StorageType
	repl    int

	mu sync.Mutex
	kv jetstream.KeyValue // nil until created

	running atomic.Bool
}

// presenceMaxAge bounds how long the bucket keeps an entry nobody refreshed
// or removed: a backstop for nodes that died, far beyond any presence TTL.
const presenceMaxAge = 24 * time.Hour

// NewPresence returns the presence of the nodes that share b's NATS, stream
// name and prefix.
func NewPresence(b *Broker) *Presence {
	return &Presence{
		nc:      b.nc,
		js:      b.js,
		log:     b.log,
		bucket:  b.cfg.Stream + "_PRESENCE",
		events:  b.cfg.Prefix + ".presence",
		storage: jetstream.MemoryStorage,
		repl:    b.cfg.Replicas,
	}
}

// store returns the bucket, creating it if needed.
func (p *Presence) store(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kv != nil {
		return p.kv, nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	kv, err := p.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      p.bucket,
		Description: "Switchboard presence: one key per channel and client",
		History:     1,
		TTL:         presenceMaxAge,
		Storage:     p.storage,
		Replicas:    p.repl,
	})
	if err != nil {
		return nil, fmt.Errorf("presence bucket %s: %w", p.bucket, classify(err))
	}
	p.kv = kv
	return kv, nil
}

// do runs op on the bucket, and once more on a new bucket if the first
// one is gone (NATS restarted and lost it).
func (p *Presence) do(ctx context.Context, op func(jetstream.KeyValue) error) error {
	for attempt := 0; ; attempt++ {
		kv, err := p.store(ctx)
		if err != nil {
			return err
		}
		err = op(kv)
		if err == nil || attempt > 0 || !(errors.Is(err, jetstream.ErrBucketNotFound) || streamLost(err)) {
			return err
		}
		p.mu.Lock()
		if p.kv == kv {
			p.kv = nil
		}
		p.mu.Unlock()
	}
}

// presenceValue is what a key holds.
type presenceValue struct {
	Client  stream.ClientInfo `json:"c"`
	Expires int64             `json:"x"` // Unix ms
}

// presenceEvent is what travels on the events subject.
type presenceEvent struct {
	Channel string            `json:"ch"`
	Join    bool              `json:"j"`
	Client  stream.ClientInfo `json:"c"`
}

func presenceKey(channel, client string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(channel)) + "." + base64.RawURLEncoding.EncodeToString([]byte(client))
}

func channelKeys(channel string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(channel)) + ".*"
}

// Add adds a client to a channel, or refreshes its entry, for ttl. A client
// that was not there yet (or whose entry had expired) is announced with a
// join event.
func (p *Presence) Add(ctx context.Context, channel string, client stream.ClientInfo, ttl time.Duration) error {
	if err := stream.ValidateChannel(channel); err != nil {
		return fmt.Errorf("presence add: %w", err)
	}
	key := presenceKey(channel, client.Client)
	val, err := json.Marshal(presenceValue{Client: client, Expires: time.Now().Add(ttl).UnixMilli()})
	if err != nil {
		return fmt.Errorf("presence add %q: %w", channel, err)
	}
	err = p.do(ctx, func(kv jetstream.KeyValue) error {
		for range maxAttempts {
			e, err := kv.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
				if _, err := kv.Create(ctx, key, val); errors.Is(err, jetstream.ErrKeyExists) {
					continue
				} else if err != nil {
					return err
				}
				return p.announce(channel, true, client)
			case err != nil:
				return err
			}
			old, expired := decodeValue(e.Value())
			if _, err := kv.Update(ctx, key, val, e.Revision()); err != nil {
				if isConflict(err) {
					continue
				}
				return err
			}
			if expired {
				if err := p.announce(channel, false, old.Client); err != nil {
					return err
				}
				return p.announce(channel, true, client)
			}
			return nil
		}
		return errContention
	})
	if err != nil {
		return fmt.Errorf("presence add %q: %w", channel, classify(err))
	}
	return nil
}

// Remove takes a client out of a channel, announcing its leave if it was
// there.
func (p *Presence) Remove(ctx context.Context, channel, client string) error {
	if err := stream.ValidateChannel(channel); err != nil {
		return fmt.Errorf("presence remove: %w", err)
	}
	key := presenceKey(channel, client)
	err := p.do(ctx, func(kv jetstream.KeyValue) error {
		for range maxAttempts {
			e, err := kv.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
				if isConflict(err) {
					continue
				}
				return err
			}
			old, _ := decodeValue(e.Value())
			return p.announce(channel, false, old.Client)
		}
		return errContention
	})
	if err != nil {
		return fmt.Errorf("presence remove %q: %w", channel, classify(err))
	}
	return nil
}

// Clients lists the channel's entries that have not expired. Expired ones
// it finds are deleted and their leave announced.
func (p *Presence) Clients(ctx context.Context, channel string) ([]stream.ClientInfo, error) {
	if err := stream.ValidateChannel(channel); err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	var list []stream.ClientInfo
	err := p.do(ctx, func(kv jetstream.KeyValue) error {
		list = list[:0]
		wctx, cancel := withTimeout(ctx)
		defer cancel()
		w, err := kv.WatchFiltered(wctx, []string{channelKeys(channel)}, jetstream.IgnoreDeletes())
		if err != nil {
			return err
		}
		defer w.Stop()
		for {
			var e jetstream.KeyValueEntry
			select {
			case e = <-w.Updates():
			case <-wctx.Done():
				return wctx.Err()
			}
			if e == nil {
				return nil // the current values are all in
			}
			v, expired := decodeValue(e.Value())
			if !expired {
				list = append(list, v.Client)
				continue
			}
			if err := kv.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision())); err == nil {
				if err := p.announce(channel, false, v.Client); err != nil {
					return err
				}
			} else if !isConflict(err) {
				return err
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("presence %q: %w", channel, classify(err))
	}
	return list, nil
}

// Run delivers every node's join and leave events until ctx ends. Only one
// Run may be active at a time.
func (p *Presence) Run(ctx context.Context, deliver func(channel string, join bool, client stream.ClientInfo)) error {
	if !p.running.CompareAndSwap(false, true) {
		return fmt.Errorf("presence run: %w", errRunning)
	}
	defer p.running.Store(false)
	err := listen(ctx, p.nc, p.events, 4096, func(m *natsgo.Msg) {
		var ev presenceEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			p.log.Error("nats presence: dropped an event this node cannot read", "err", err)
			return
		}
		deliver(ev.Channel, ev.Join, ev.Client)
	})
	if err != nil {
		return fmt.Errorf("presence run: %w", err)
	}
	return nil
}

// announce sends a join or leave to every node.
func (p *Presence) announce(channel string, join bool, client stream.ClientInfo) error {
	b, err := json.Marshal(presenceEvent{Channel: channel, Join: join, Client: client})
	if err != nil {
		return err
	}
	return p.nc.Publish(p.events, b)
}

// decodeValue reads a key's value; one that cannot be read counts as
// expired, so it is cleaned up.
func decodeValue(b []byte) (presenceValue, bool) {
	var v presenceValue
	if err := json.Unmarshal(b, &v); err != nil {
		return v, true
	}
	return v, time.Now().UnixMilli() >= v.Expires
}

// isConflict reports whether a key-value write failed because the key
// changed since it was read.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

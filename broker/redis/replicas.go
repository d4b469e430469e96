package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboardhq/switchboard/stream"
)

// replicaPolicy is how Publish waits for replicas: Config.MinReplicas and
// Config.ReplicaTimeout, with the URL's parameters and defaults applied.
type replicaPolicy struct {
	min     int // as Config.MinReplicas: 0 auto, negative none
	timeout time.Duration
}

// The URL's query parameters that the broker reads itself.
const (
	paramMinReplicas    = "min_replicas"
	paramReplicaTimeout = "replica_timeout"
)

// replicaPolicy reads the replica settings from cfg and its URL, and
// returns cfg with the broker's own parameters taken out of the URL.
func (cfg Config) replicaPolicy() (Config, replicaPolicy, error) {
	pol := replicaPolicy{min: cfg.MinReplicas, timeout: cfg.ReplicaTimeout}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return cfg, pol, err
		}
		q := u.Query()
		if v := q.Get(paramMinReplicas); v != "" && pol.min == 0 {
			switch v {
			case "auto":
			case "none":
				pol.min = -1
			default:
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return cfg, pol, fmt.Errorf("%s=%q: want auto, none or a number of replicas", paramMinReplicas, v)
				}
				pol.min = n
				if n == 0 {
					pol.min = -1
				}
			}
		}
		if v := q.Get(paramReplicaTimeout); v != "" && pol.timeout <= 0 {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return cfg, pol, fmt.Errorf("%s=%q: want a positive duration", paramReplicaTimeout, v)
			}
			pol.timeout = d
		}
		if q.Has(paramMinReplicas) || q.Has(paramReplicaTimeout) {
			q.Del(paramMinReplicas)
			q.Del(paramReplicaTimeout)
			u.RawQuery = q.Encode()
			cfg.URL = u.String()
		}
	}
	if pol.timeout <= 0 {
		pol.timeout = DefaultReplicaTimeout
	}
	return cfg, pol, nil
}

// scriptMode is the publish script's ARGV[8] for the policy.
func (p replicaPolicy) scriptMode() string {
	switch {
	case p.min < 0:
		return ""
	case p.min == 0:
		return "a"
	default:
		return "n"
	}
}

// The publish and commit scripts' SHA-1s, for EVALSHA on a dedicated
// connection, where rueidis's Lua helper cannot go.
var (
	publishSHA = scriptSHA(publishScript)
	commitSHA  = scriptSHA(commitScript)
)

func scriptSHA(script string) string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}

// publishReplyLen is how many values the publish script returns.
const publishReplyLen = 5

// execPublish runs the publish script and, as the policy asks, waits for
// replicas to have what it wrote before it commits it. WAIT counts the
// replicas that have every write of the connection it is sent on, so the
// script, WAIT and the commit go on one dedicated connection (in a
// cluster, to the node of the channel's slot, where all of the channel's
// keys are). Without a replica to wait for, the publish script commits by
// itself: one round trip, as before replicas were waited for.
func (b *Broker) execPublish(ctx context.Context, keys, args []string) ([]rueidis.RedisMessage, error) {
	if b.replicas.min < 0 {
		return luaPublish.Exec(ctx, b.client, keys, args).ToArray()
	}
	var reply []rueidis.RedisMessage
	err := b.client.Dedicated(func(c rueidis.DedicatedClient) error {
		var err error
		if reply, err = evalsha(ctx, c, publishSHA, publishScript, keys, args).ToArray(); err != nil {
			return err
		}
		if len(reply) != publishReplyLen {
			return nil // publish reports the malformed reply
		}
		need := int64(b.replicas.min)
		if need == 0 {
			connected, err := reply[3].AsInt64()
			if err != nil {
				return nil
			}
			need = min(connected, 1)
		}
		if need == 0 {
			return nil // the script committed it
		}
		wait := b.replicas.timeout
		if dl, ok := ctx.Deadline(); ok {
			// WAIT must answer before ctx ends, or the connection is lost
			// with it, and leave time to commit; 0 would mean no limit.
			wait = max(min(wait, time.Until(dl)-commitReserve), time.Millisecond)
		}
		acks, err := c.Do(ctx, c.B().Wait().Numreplicas(need).Timeout(millis(wait)).Build()).AsInt64()
		if err != nil {
			return err
		}
		if acks < need {
			return fmt.Errorf("%w: %d of %d replicas confirmed within %s; the primary holds it unseen, and a retry with the same idempotency key commits it rather than storing it twice",
				stream.ErrUnavailable, acks, need, wait)
		}
		return commit(ctx, c, keys[:2], reply, args)
	})
	return reply, err
}

// commitReserve is the part of a Publish's deadline kept for the commit
// after WAIT.
const commitReserve = 20 * time.Millisecond

// commit runs the commit script for the publication that reply, the
// publish script's answer to args, stored and left hidden. A commit that
// fails leaves it hidden, as a refusal does.
func commit(ctx context.Context, c rueidis.DedicatedClient, keys []string, reply []rueidis.RedisMessage, args []string) error {
	epoch, err1 := reply[0].ToString()
	offset, err2 := reply[1].AsInt64()
	id, err3 := reply[4].ToString()
	if err1 != nil || err2 != nil || err3 != nil {
		return nil // publish reports the malformed reply
	}
	off := strconv.FormatInt(offset, 10)
	n, err := evalsha(ctx, c, commitSHA, commitScript, keys, []string{epoch, off, args[1], id, args[2]}).AsInt64()
	if err != nil {
		return fmt.Errorf("commit offset %d: %w", offset, err)
	}
	if n < 0 {
		// The primary that had it failed over to one that does not,
		// which WAIT makes rare but cannot rule out: nobody saw it, and
		// the offset is free again.
		return fmt.Errorf("%w: offset %d was lost before it was committed", stream.ErrUnavailable, offset)
	}
	return nil
}

// evalsha runs a script on a dedicated connection, sending it whole if the
// server does not have it cached (after a restart or a failover).
func evalsha(ctx context.Context, c rueidis.DedicatedClient, sha, script string, keys, args []string) rueidis.RedisResult {
	r := c.Do(ctx, c.B().Evalsha().Sha1(sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	if re, ok := rueidis.IsRedisErr(r.Error()); ok && re.IsNoScript() {
		r = c.Do(ctx, c.B().Eval().Script(script).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	}
	return r
}

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

// publishSHA is the publish script's SHA-1, for EVALSHA on a dedicated
// connection, where rueidis's Lua helper cannot go.
var publishSHA = func() string {
	sum := sha1.Sum([]byte(publishScript))
	return hex.EncodeToString(sum[:])
}()

// execPublish runs the publish script and, as the policy asks, waits for
// replicas to have what it wrote. WAIT counts the replicas that have every
// write of the connection it is sent on, so the script and WAIT go on one
// dedicated connection (in a cluster, to the node of the channel's slot).
func (b *Broker) execPublish(ctx context.Context, keys, args []string) ([]rueidis.RedisMessage, error) {
	if b.replicas.min < 0 {
		return luaPublish.Exec(ctx, b.client, keys, args).ToArray()
	}
	var reply []rueidis.RedisMessage
	err := b.client.Dedicated(func(c rueidis.DedicatedClient) error {
		r := c.Do(ctx, c.B().Evalsha().Sha1(publishSHA).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
		if re, ok := rueidis.IsRedisErr(r.Error()); ok && re.IsNoScript() {
			r = c.Do(ctx, c.B().Eval().Script(publishScript).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
		}
		var err error
		if reply, err = r.ToArray(); err != nil {
			return err
		}
		if len(reply) != 4 {
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
			return nil
		}
		wait := b.replicas.timeout
		if dl, ok := ctx.Deadline(); ok {
			// WAIT must answer before ctx ends, or the connection is lost
			// with it; 0 would mean no limit.
			wait = max(min(wait, time.Until(dl)-10*time.Millisecond), time.Millisecond)
		}
		acks, err := c.Do(ctx, c.B().Wait().Numreplicas(need).Timeout(millis(wait)).Build()).AsInt64()
		if err != nil {
			return err
		}
		if acks < need {
			return fmt.Errorf("%w: %d of %d replicas confirmed within %s; the primary has it, and a retry with the same idempotency key does not store it twice",
				stream.ErrUnavailable, acks, need, wait)
		}
		return nil
	})
	return reply, err
}

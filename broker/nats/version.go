package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// MinServerVersion is the oldest NATS Server the broker works with. It
// needs, of JetStream:
//
//   - per-message TTLs (the Nats-TTL header and the stream's AllowMsgTTL),
//     which keep a channel's position after its history has expired, and
//     batch direct gets, which read history: both 2.11;
//   - the Nats-Time-Stamp and Nats-Sequence headers on what the stream
//     republishes, which give a live publication its time and place: 2.10.
//
// An older server takes the stream's settings without complaint, drops
// what it does not know, and republishes messages this node cannot read:
// every subscriber would get nothing. So New refuses it.
const MinServerVersion = "2.11.0"

// minAPILevel is the JetStream API level of MinServerVersion, which an
// account's info reports (0 before 2.11).
const minAPILevel = 1

// errTooOld is what New wraps when the server lacks what the broker needs.
var errTooOld = errors.New("NATS server too old")

// checkServer refuses a NATS server older than MinServerVersion: the one
// this connection reached, and the JetStream API of its account, which in
// a cluster of mixed versions may be older still.
func (b *Broker) checkServer(ctx context.Context) error {
	v := b.nc.ConnectedServerVersion()
	if err := checkVersion(v); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	info, err := b.js.AccountInfo(ctx)
	if err != nil {
		return fmt.Errorf("JetStream account info: %w", classify(err))
	}
	if info.API.Level < minAPILevel {
		return fmt.Errorf("%w: JetStream API level %d (server %s); Switchboard needs NATS Server %s or later (API level %d)",
			errTooOld, info.API.Level, v, MinServerVersion, minAPILevel)
	}
	return nil
}

// checkVersion refuses a server version older than MinServerVersion. A
// version it cannot read is let through: the API level and the stream's
// settings are checked after it.
func checkVersion(v string) error {
	got, ok := parseVersion(v)
	if !ok {
		return nil
	}
	want, _ := parseVersion(MinServerVersion)
	for i := range got {
		if got[i] != want[i] {
			if got[i] < want[i] {
				return fmt.Errorf("%w: nats-server %s; Switchboard needs NATS Server %s or later (per-message TTLs, batch direct gets, Nats-Time-Stamp on republished messages)",
					errTooOld, v, MinServerVersion)
			}
			return nil
		}
	}
	return nil
}

// parseVersion reads "major.minor.patch", with an optional leading "v"
// and anything after the patch number ("-beta.1", "+build") ignored.
func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) != 3 {
		return out, false
	}
	parts[2], _, _ = strings.Cut(parts[2], "-")
	parts[2], _, _ = strings.Cut(parts[2], "+")
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// checkStream refuses a stream whose settings, as the server answered
// them, lack what the broker asked for: a server (or a replica of another
// version) that dropped a setting it does not know would store and
// republish what this node cannot read.
func checkStream(got *jetstream.StreamConfig) error {
	var missing []string
	if !got.AllowMsgTTL {
		missing = append(missing, "per-message TTLs (allow_msg_ttl)")
	}
	if !got.AllowDirect {
		missing = append(missing, "direct gets (allow_direct)")
	}
	if got.RePublish == nil || got.RePublish.Destination == "" {
		missing = append(missing, "republish")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: stream %s was stored without %s; Switchboard needs NATS Server %s or later on every server of the cluster",
		errTooOld, got.Name, strings.Join(missing, ", "), MinServerVersion)
}

package redis

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// MinServerVersion is the oldest Redis the broker works with: the scripts
// trim history with XTRIM MINID, which arrived in 6.2.
const MinServerVersion = "6.2"

// minVersion is MinServerVersion as numbers.
var minVersion = [2]int{6, 2}

// directCommands are the commands the broker sends itself, beside the
// scripts' (see scriptCommands).
var directCommands = []string{"EVAL", "EVALSHA", "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE", "HMGET", "PING", "WAIT"}

// callPattern finds the commands a script calls.
var callPattern = regexp.MustCompile(`redis\.p?call\('([A-Za-z]+)'`)

// requiredCommands is every command the broker, its presence and its
// control send to Redis, sorted: those it sends itself and those its
// scripts call, read from the scripts so that the list cannot fall behind
// them.
func requiredCommands() []string {
	cmds := slices.Clone(directCommands)
	for _, src := range []string{publishScript, historyScript, presenceAddScript, presenceRemoveScript, presenceClientsScript} {
		for _, m := range callPattern.FindAllStringSubmatch(src, -1) {
			cmds = append(cmds, strings.ToUpper(m[1]))
		}
	}
	slices.Sort(cmds)
	return slices.Compact(cmds)
}

// checkServer refuses a Redis the broker cannot work with: one older than
// MinServerVersion, or one without a command the broker uses (renamed or
// disabled with rename-command, or missing from a server that only looks
// like Redis). Either would fail later, on every publish or history read,
// with an error no one could act on at start.
func (b *Broker) checkServer(ctx context.Context) error {
	info, err := b.client.Do(ctx, b.client.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return fmt.Errorf("INFO: %w", classify(err))
	}
	if err := checkVersion(info); err != nil {
		return err
	}
	need := requiredCommands()
	reply, err := b.client.Do(ctx, b.client.B().CommandInfo().CommandName(need...).Build()).ToArray()
	if err != nil {
		if isRedisError(err) && !retryLater(err) {
			// COMMAND itself is refused (an ACL, a proxy): the version
			// check above is all there is.
			b.log.Warn("redis: cannot list the server's commands; assuming it has those the broker uses", "err", err)
			return nil
		}
		return fmt.Errorf("COMMAND INFO: %w", classify(err))
	}
	return checkCommands(need, reply)
}

// checkVersion reads redis_version from an INFO server reply and refuses
// one older than MinServerVersion. A server that does not say is given the
// benefit of the doubt: the commands are checked next.
func checkVersion(info string) error {
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		parts := strings.SplitN(v, ".", 3)
		var got [2]int
		for i := range min(len(parts), 2) {
			got[i], _ = strconv.Atoi(parts[i])
		}
		if got[0] < minVersion[0] || got[0] == minVersion[0] && got[1] < minVersion[1] {
			return fmt.Errorf("redis-server %s is too old; Switchboard needs %s or later", v, MinServerVersion)
		}
		return nil
	}
	return nil
}

// checkCommands refuses a server whose COMMAND INFO reply, for the
// commands of need in order, has no entry for one of them.
func checkCommands(need []string, reply []rueidis.RedisMessage) error {
	var missing []string
	for i, name := range need {
		if i >= len(reply) || reply[i].IsNil() {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("redis-server lacks %s (renamed or disabled?); Switchboard needs Redis %s or later with every command its scripts use: %s",
		strings.Join(missing, ", "), MinServerVersion, strings.Join(need, " "))
}

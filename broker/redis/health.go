package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"
)

// clusterSlots is how many hash slots a Redis Cluster has.
const clusterSlots = 16384

// ask is the probe's request: a PING for a single server or the primary
// that Sentinel names; for a Redis Cluster, a check that every slot has a
// primary that answers and says the cluster is ok (see askCluster).
func (b *Broker) ask(ctx context.Context) error {
	if b.client.Mode() != rueidis.ClientModeCluster {
		return b.client.Do(ctx, b.client.B().Ping().Build()).Error()
	}
	return b.askCluster(ctx)
}

// askCluster checks that the cluster can serve every channel. One PING to
// one node would not: while a primary fails over, a third of the channels
// refuse publishes and the other nodes still answer. So it reads the slot
// map (CLUSTER SLOTS, from whichever node answers first), requires every
// slot to have a primary, and asks each primary for CLUSTER INFO, which
// must say cluster_state:ok. A node that does not answer, a slot without a
// primary, or a primary that sees the cluster failing makes it fail.
func (b *Broker) askCluster(ctx context.Context) error {
	nodes := b.client.Nodes()
	addrs := make([]string, 0, len(nodes))
	for addr := range nodes {
		addrs = append(addrs, addr)
	}
	// Every node is asked at once and the first answer taken, so one that
	// hangs (a stopped replica) does not hold the probe up.
	list, err := firstAnswer(ctx, addrs, func(ctx context.Context, addr string) (string, error) {
		c := nodes[addr]
		msg, err := c.Do(ctx, c.B().ClusterSlots().Build()).ToMessage()
		if err != nil {
			return "", err
		}
		primaries, err := slotPrimaries(addr, msg)
		return strings.Join(primaries, " "), err
	})
	if err != nil {
		return fmt.Errorf("redis cluster: no node answered CLUSTER SLOTS: %w", err)
	}
	primaries := strings.Fields(list)
	var errs []error
	for _, r := range fanOut(primaries, func(addr string) (string, error) {
		c, ok := nodes[addr]
		if !ok {
			return "", errors.New("not connected yet")
		}
		return c.Do(ctx, c.B().ClusterInfo().Build()).ToString()
	}) {
		switch {
		case r.err != nil:
			errs = append(errs, fmt.Errorf("primary %s: %w", r.addr, r.err))
		case !strings.Contains(r.val, "cluster_state:ok"):
			errs = append(errs, fmt.Errorf("primary %s: cluster_state is not ok", r.addr))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("redis cluster: %w", errors.Join(errs...))
	}
	return nil
}

// slotPrimaries reads a CLUSTER SLOTS reply that node from gave: the
// addresses of the primaries serving slots, each once. It fails when a
// slot has none.
func slotPrimaries(from string, msg rueidis.RedisMessage) ([]string, error) {
	ranges, err := msg.ToArray()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	served := int64(0)
	for _, r := range ranges {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			return nil, errors.New("malformed CLUSTER SLOTS reply")
		}
		first, err1 := f[0].AsInt64()
		last, err2 := f[1].AsInt64()
		node, err3 := f[2].ToArray()
		if err1 != nil || err2 != nil || err3 != nil || len(node) < 2 {
			return nil, errors.New("malformed CLUSTER SLOTS reply")
		}
		host, _ := node[0].ToString()
		port, err := node[1].AsInt64()
		if err != nil {
			return nil, errors.New("malformed CLUSTER SLOTS reply")
		}
		if host == "" || host == "?" {
			// The node does not know its own address: it is the one asked.
			host, _, _ = net.SplitHostPort(from)
		}
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
		served += last - first + 1
	}
	if served < clusterSlots {
		return nil, fmt.Errorf("%d of %d slots have no primary", clusterSlots-served, clusterSlots)
	}
	return out, nil
}

// answer is one node's answer in fanOut.
type answer struct {
	addr, val string
	err       error
}

// fanOut calls ask for every address at once and returns the answers in
// the order of addrs, once all have come.
func fanOut(addrs []string, ask func(addr string) (string, error)) []answer {
	out := make([]answer, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val, err := ask(addr)
			out[i] = answer{addr: addr, val: val, err: err}
		}()
	}
	wg.Wait()
	return out
}

// firstAnswer calls ask for every address at once and returns the first
// answer without an error, or every error when none answers. It cancels
// the other calls and waits for them before it returns.
func firstAnswer(ctx context.Context, addrs []string, ask func(ctx context.Context, addr string) (string, error)) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, len(addrs))
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val, err := ask(ctx, addr)
			answers <- answer{addr: addr, val: val, err: err}
		}()
	}
	var errs []error
	for range addrs {
		a := <-answers
		if a.err == nil {
			return a.val, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.addr, a.err))
	}
	return "", errors.Join(append(errs, errors.New("no node known"))...)
}

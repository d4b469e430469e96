package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/bench"
)

// newPresenceCmd is the presence scenario: a crowd joins one channel with
// join/leave on while a canary on another channel measures delivery.
func newPresenceCmd(env *cliEnv, f *benchFlags) *cobra.Command {
	cfg := bench.PresenceConfig{}
	cmd := &cobra.Command{
		Use:   "presence",
		Short: "N clients join one channel with presence and join/leave on: connect time, timeouts, a canary's latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pinSelf(f.clientCPU); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			node, err := f.node(ctx, env, cfg.Subscribers, false)
			if err != nil {
				return err
			}
			defer node.Stop()
			c := cfg
			c.Node, c.SourceAddrs = node, f.sources
			add, stop := progress(env, "joining", c.Subscribers)
			c.Progress = add
			res, err := bench.Presence(ctx, c)
			stop()
			if err != nil {
				return fmt.Errorf("presence: %w", err)
			}
			if f.jsonOut {
				return writeJSON(env.stdout, res)
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "subscribers\tconnected\ttimed out\tfailed\tdropped\tconnect time\tconnect p50\tp99\tjoin pushes\tcanary p50\tp99\tmax\tcanary sent\tlost\tserver CPU")
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\n", res.Subscribers, res.Connected,
				res.TimedOut, res.Failed, res.Ended, short(res.ConnectTime), short(res.ConnectLatency.P50), short(res.ConnectLatency.P99),
				res.Pushes, short(res.Canary.P50), short(res.Canary.P99), short(res.Canary.Max), res.CanarySent, res.CanaryLost,
				short(res.ServerCPU))
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Subscribers, "subscribers", 15_000, "clients that join the channel")
	fl.StringVar(&cfg.Namespace, "namespace", "chat", "namespace with presence and join/leave on (a node without a config file has chat)")
	fl.IntVar(&cfg.Concurrency, "concurrency", 100, "clients connecting at once")
	fl.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "a client not subscribed within this counts as timed out")
	fl.Float64Var(&cfg.CanaryRate, "canary-rate", 20, "publications per second to the canary's channel")
	return cmd
}

// newConnectCmd is the connect scenario: connect + subscribe per second,
// over plain TCP and TLS.
func newConnectCmd(env *cliEnv, f *benchFlags) *cobra.Command {
	cfg := bench.ConnectConfig{}
	var modes []string
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "WebSocket clients connecting and subscribing as fast as the node takes them, over TCP and TLS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, m := range modes {
				if m != "tcp" && m != "tls" {
					return fmt.Errorf("unknown --over %q (want tcp or tls)", m)
				}
			}
			if err := pinSelf(f.clientCPU); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			var rows []bench.ConnectResult
			for _, m := range modes {
				// A node of its own per run: each starts with no client.
				node, err := f.node(ctx, env, cfg.Conns, m == "tls")
				if err != nil {
					return err
				}
				c := cfg
				c.Node, c.SourceAddrs = node, f.sources
				add, stop := progress(env, m+": connecting", c.Conns)
				c.Progress = add
				res, err := bench.Connect(ctx, c)
				stop()
				node.Stop()
				if err != nil {
					return fmt.Errorf("connect over %s: %w", m, err)
				}
				rows = append(rows, res)
			}
			if f.jsonOut {
				return writeJSON(env.stdout, rows)
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "transport\tclient\tconns\tconnected\tfailed\ttime\tconnects/s\tp50\tp99\tserver CPU/conn\tbusy: node\tbench\tper second")
			for _, r := range rows {
				client := "pipelined"
				if r.Stepwise {
					client = "stepwise"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%.0f\t%s\t%s\t%s\t%.0f%%\t%.0f%%\t%v\n", r.Transport, client, r.Conns, r.Connected, r.Failed,
					short(r.Elapsed), r.PerSec, short(r.Latency.P50), short(r.Latency.P99), micros(r.CPUPerConn),
					100*r.ServerBusy, 100*r.ClientBusy, r.PerSecond)
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&modes, "over", []string{"tcp", "tls"}, "runs, in turn: tcp (ws://) and tls (wss://, a self-signed certificate made for the run)")
	fl.IntVar(&cfg.Conns, "conns", 10_000, "clients to connect")
	fl.IntVar(&cfg.Concurrency, "concurrency", 200, "clients connecting at once")
	fl.IntVar(&cfg.Channels, "channels", 100, "channels to spread them over")
	fl.BoolVar(&cfg.Stepwise, "stepwise", false, "each client waits for the 101 and each reply before its next write, as browsers do (default: upgrade, connect and subscribe in one write)")
	return cmd
}

// ladderRow is one step of a rate ladder: a run at a fixed rate and its
// verdict.
type ladderRow struct {
	loadRow
	// Passes: everything delivered, nothing duplicated, no connection
	// dropped, and p99 under --max-p99.
	Passes bool `json:"passes"`
}

// ladderReport is the JSON of a ladder.
type ladderReport struct {
	Steps []ladderRow `json:"steps"`
	// Highest is, per transport, the highest passing step's deliveries per
	// second asked for (rate × subscribers); 0: none passed.
	Highest map[string]float64 `json:"highest_passing_deliveries_per_sec"`
	MaxP99  time.Duration      `json:"max_p99_ns"`
}

func passes(r bench.LoadResult, maxP99 time.Duration) bool {
	return r.Delivered > 0 && r.Lost == 0 && r.Duplicates == 0 && r.Ended == 0 && r.Latency.P99 < maxP99
}

func printLadder(env *cliEnv, rep ladderReport, transports []string) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "transport\tsubs\trate\tasked deliveries/s\tdeliveries/s\tp50\tp99\tCPU/delivery\tvs floor\tlost\tdup\tdropped\tbusy: node\tbench\tverdict")
	for _, r := range rep.Steps {
		verdict := "fails"
		if r.Passes {
			verdict = "passes"
		}
		if bench.IsFloor(r.Transport) {
			verdict = "(floor) " + verdict
		}
		fmt.Fprintf(tw, "%s\t%d\t%s/s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.0f%%\t%.0f%%\t%s\n", r.Transport, r.Subscribers,
			strconv.FormatFloat(r.Rate, 'f', -1, 64), r.Rate*float64(r.Subscribers), r.DeliveriesPerSec,
			short(r.Latency.P50), short(r.Latency.P99), micros(r.CPUPerDelivery), ratio(r.CPUVsFloor),
			r.Lost, r.Duplicates, r.Ended, 100*r.ServerBusy, 100*r.ClientBusy, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range transports {
		if h := rep.Highest[t]; h > 0 {
			fmt.Fprintf(env.stdout, "%s: highest rate that passes (p99 < %s, nothing lost): %.0f deliveries/s\n", t, short(rep.MaxP99), h)
		} else {
			fmt.Fprintf(env.stdout, "%s: no rate passes (p99 < %s, nothing lost)\n", t, short(rep.MaxP99))
		}
	}
	return nil
}

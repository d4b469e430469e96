package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/bench"
	"github.com/switchboardhq/switchboard/stream"
)

// loadFlags are the flags of the broadcast and channels scenarios.
type loadFlags struct {
	transports   []string
	subscribers  int
	channels     int
	rate         float64
	half         bool
	window       int
	duration     time.Duration
	messages     int
	payload      int
	pollInterval time.Duration
	floor        bool
	rates        []float64
	maxP99       time.Duration
}

func newLoadCmd(env *cliEnv, f *benchFlags, scenario string) *cobra.Command {
	lf := &loadFlags{}
	short := "N subscribers on one channel: deliveries/s, latency, server CPU per delivery"
	channels := 1
	if scenario == "channels" {
		short = "Many channels with a few subscribers each: deliveries/s, latency, server CPU per delivery"
		channels = 1000
	}
	cmd := &cobra.Command{
		Use:   scenario,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTransports(lf.transports); err != nil {
				return err
			}
			if err := pinSelf(f.clientCPU); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			return runLoad(ctx, env, f, lf)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&lf.transports, "transport", []string{"websocket"}, "transports to measure, in turn: websocket (or ws), sse, longpoll, poll, grpc")
	fl.IntVar(&lf.subscribers, "subscribers", 10_000, "subscribed connections")
	fl.IntVar(&lf.channels, "channels", channels, "channels to spread the subscribers over")
	fl.Float64Var(&lf.rate, "rate", 0, "publications per second (0: flat out, with --window publications in flight)")
	fl.BoolVar(&lf.half, "half", false, "after each flat-out run, run again at half the rate it reached (latency under load)")
	fl.IntVar(&lf.window, "window", 4, "publications in flight when flat out")
	fl.DurationVar(&lf.duration, "duration", 10*time.Second, "how long to publish in each run")
	fl.IntVar(&lf.messages, "messages", 0, "stop each run after this many publications (0: --duration only)")
	fl.IntVar(&lf.payload, "payload", 100, "bytes of data per publication")
	fl.DurationVar(&lf.pollInterval, "poll-interval", time.Second, "pause between short polls")
	fl.BoolVar(&lf.floor, "floor", true, "also run the floor with the same load, and show ratios to it (raw TCP; for longpoll, the long-poll floor)")
	fl.Float64SliceVar(&lf.rates, "rates", nil, "a ladder: run at each of these publication rates in turn (--duration each) and give each step a verdict")
	fl.DurationVar(&lf.maxP99, "max-p99", 250*time.Millisecond, "with --rates: a step passes when everything is delivered and p99 is under this")
	return cmd
}

func checkTransports(ts []string) error {
	for i, t := range ts {
		tr, ok := stream.ParseTransport(t)
		if !ok {
			return fmt.Errorf("unknown transport %q (want websocket, sse, longpoll, poll or grpc)", t)
		}
		ts[i] = string(tr) // "ws" is read as websocket
	}
	return nil
}

// loadRow is one line of the report: a run, and its ratios to the floor
// run of the same load.
type loadRow struct {
	bench.LoadResult
	// DeliveriesVsFloor is deliveries/s divided by the floor's, and
	// CPUVsFloor CPU per delivery divided by the floor's (0: no floor).
	DeliveriesVsFloor float64 `json:"deliveries_vs_floor,omitempty"`
	CPUVsFloor        float64 `json:"cpu_vs_floor,omitempty"`
}

func runLoad(ctx context.Context, env *cliEnv, f *benchFlags, lf *loadFlags) error {
	cfg := func(n *bench.Node, transport string, rate float64) bench.LoadConfig {
		return bench.LoadConfig{
			Node: n, Transport: transport, Subscribers: lf.subscribers, Channels: lf.channels,
			Rate: rate, Window: lf.window, Duration: lf.duration, Messages: lf.messages,
			PayloadSize: lf.payload, PollInterval: lf.pollInterval, SourceAddrs: f.sources,
		}
	}
	run := func(n *bench.Node, transport string, rate float64) (bench.LoadResult, error) {
		c := cfg(n, transport, rate)
		add, stop := progress(env, transport+": connecting", lf.subscribers)
		c.Progress = add
		res, err := bench.Load(ctx, c)
		stop()
		if err != nil {
			return res, fmt.Errorf("%s over %s: %w", strings.TrimSpace(res.Scenario), transport, err)
		}
		return res, nil
	}
	// Each run, then its half-rate twin when asked. node returns the
	// server for a run: the floor server is started afresh for each, since
	// it keeps the connections of earlier runs until it writes to them.
	runs := func(node func() (*bench.Node, func(), error), transport string, rate float64) ([]bench.LoadResult, error) {
		var out []bench.LoadResult
		for i := 0; i < 2; i++ {
			n, done, err := node()
			if err != nil {
				return nil, err
			}
			res, err := run(n, transport, rate)
			done()
			if err != nil {
				return nil, err
			}
			out = append(out, res)
			if !lf.half || rate != 0 || res.PublicationsPerSec <= 0 {
				break
			}
			rate = res.PublicationsPerSec / 2
		}
		return out, nil
	}

	startFloor := func() (*bench.Node, func(), error) {
		fn, err := bench.StartFloor(ctx, bench.Launch{Binary: f.nodeBinary, CPU: f.serverCPU, GoMaxProcs: f.gomaxprocs, Stderr: env.stderr})
		if err != nil {
			return nil, nil, fmt.Errorf("floor: %w", err)
		}
		return fn, fn.Stop, nil
	}
	withFloor := lf.floor && f.target == ""
	node, err := f.node(ctx, env, lf.subscribers, false)
	if err != nil {
		return err
	}
	defer node.Stop()
	sameNode := func() (*bench.Node, func(), error) { return node, func() {}, nil }

	// step runs the floors (when asked) and every transport at one rate,
	// each node row beside the row of its floor (bench.FloorFor) under the
	// same load: the raw-TCP floor, and the long-poll floor when long
	// polling is measured.
	step := func(rate float64) ([]loadRow, error) {
		floors := map[string][]bench.LoadResult{}
		var rows []loadRow
		if withFloor {
			for _, t := range lf.transports {
				ft := bench.FloorFor(t)
				if _, done := floors[ft]; done {
					continue
				}
				res, err := runs(startFloor, ft, rate)
				if err != nil {
					return nil, err
				}
				floors[ft] = res
				for _, r := range res {
					rows = append(rows, loadRow{LoadResult: r})
				}
			}
		}
		for _, t := range lf.transports {
			res, err := runs(sameNode, t, rate)
			if err != nil {
				return nil, err
			}
			floor := floors[bench.FloorFor(t)]
			for i, r := range res {
				row := loadRow{LoadResult: r}
				if i < len(floor) {
					fl := floor[i]
					if fl.DeliveriesPerSec > 0 {
						row.DeliveriesVsFloor = r.DeliveriesPerSec / fl.DeliveriesPerSec
					}
					if fl.CPUPerDelivery > 0 {
						row.CPUVsFloor = float64(r.CPUPerDelivery) / float64(fl.CPUPerDelivery)
					}
				}
				rows = append(rows, row)
			}
		}
		return rows, nil
	}

	if len(lf.rates) > 0 {
		rep := ladderReport{Highest: map[string]float64{}, MaxP99: lf.maxP99}
		for _, rate := range lf.rates {
			if rate <= 0 {
				return fmt.Errorf("--rates: %v is not a rate (publications per second, above 0)", rate)
			}
			rows, err := step(rate)
			if err != nil {
				return err
			}
			for _, r := range rows {
				lr := ladderRow{loadRow: r, Passes: passes(r.LoadResult, lf.maxP99)}
				if lr.Passes && !bench.IsFloor(r.Transport) {
					rep.Highest[r.Transport] = max(rep.Highest[r.Transport], rate*float64(r.Subscribers))
				}
				rep.Steps = append(rep.Steps, lr)
			}
		}
		if f.jsonOut {
			return writeJSON(env.stdout, rep)
		}
		return printLadder(env, rep, lf.transports)
	}

	rows, err := step(lf.rate)
	if err != nil {
		return err
	}
	if f.jsonOut {
		return writeJSON(env.stdout, rows)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\ttransport\tsubs\tchans\trate\tpub/s\tdeliveries/s\tvs floor\tCPU/delivery\tvs floor\tp50\tp90\tp99\tp99.9\tlost\tdup\tdropped\tbusy: node\tbench")
	for _, r := range rows {
		rate := "max"
		if r.Rate > 0 {
			rate = fmt.Sprintf("%.0f/s", r.Rate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.0f%%\t%.0f%%\n",
			r.Scenario, r.Transport, r.Subscribers, r.Channels, rate, r.PublicationsPerSec, r.DeliveriesPerSec,
			ratio(r.DeliveriesVsFloor), micros(r.CPUPerDelivery), ratio(r.CPUVsFloor),
			short(r.Latency.P50), short(r.Latency.P90), short(r.Latency.P99), short(r.Latency.P999),
			r.Lost, r.Duplicates, r.Ended, 100*r.ServerBusy, 100*r.ClientBusy)
	}
	return tw.Flush()
}

func newStormCmd(env *cliEnv, f *benchFlags) *cobra.Command {
	var transports []string
	cfg := bench.StormConfig{}
	cmd := &cobra.Command{
		Use:   "storm",
		Short: "N clients drop at once and come back resuming: lost, duplicated, catch-up time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTransports(transports); err != nil {
				return err
			}
			if err := pinSelf(f.clientCPU); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			node, err := f.node(ctx, env, 2*cfg.Clients, false)
			if err != nil {
				return err
			}
			defer node.Stop()
			var rows []bench.StormResult
			for _, t := range transports {
				c := cfg
				c.Node, c.Transport, c.SourceAddrs = node, t, f.sources
				add, stop := progress(env, t+": connecting", c.Clients)
				c.Progress = add
				res, err := bench.Storm(ctx, c)
				stop()
				if err != nil {
					return fmt.Errorf("storm over %s: %w", t, err)
				}
				rows = append(rows, res)
			}
			if f.jsonOut {
				return writeJSON(env.stdout, rows)
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "transport\tclients\tchans\tpublications\texpected\tdelivered\tlost\tdup\tgaps\tcatch-up p50\tp99\tmax\tconnect time")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Transport, r.Clients, r.Channels,
					r.Publications, r.Expected, r.Delivered, r.Lost, r.Duplicates, r.Gaps,
					short(r.CatchUpP50), short(r.CatchUpP99), short(r.CatchUpMax), short(r.ConnectTime))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&transports, "transport", []string{"websocket"}, "transports to measure, in turn: websocket (or ws), sse, longpoll, poll, grpc")
	fl.IntVar(&cfg.Clients, "clients", 10_000, "clients that drop and come back")
	fl.IntVar(&cfg.Channels, "channels", 100, "channels to spread them over")
	fl.Float64Var(&cfg.Rate, "rate", 100, "publications per second over all channels, throughout")
	fl.DurationVar(&cfg.Before, "before", time.Second, "publishing before the drop")
	fl.DurationVar(&cfg.After, "after", time.Second, "publishing after every client caught up")
	fl.DurationVar(&cfg.PollInterval, "poll-interval", time.Second, "pause between short polls")
	return cmd
}

// newFloorServerCmd runs the raw-TCP floor server; bench launches it as it
// launches a node.
func newFloorServerCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "floor-server",
		Short:  "Serve the raw-TCP floor (started by the other scenarios)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			return bench.ServeFloor(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

func micros(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
}

// short prints a duration with three significant digits.
func short(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/bench"
)

// benchPinnedEnv marks a bench process already re-executed under taskset.
// It stays outside the SWITCHBOARD_ prefix, which is reserved for settings.
const benchPinnedEnv = "SB_BENCH_PINNED"

type benchFlags struct {
	serverCPU  int
	clientCPU  int
	gomaxprocs int
	sources    []string
	jsonOut    bool
	timeout    time.Duration
	target     string
	apiKey     string
	pid        int
	hold       time.Duration
	nodeBinary string
}

func newBenchCmd(env *cliEnv) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a node over the network",
		Long: `Measure a Switchboard node as its clients see it. The benchmark launches its own
node on a free loopback port (pinned with --server-cpu, GOMAXPROCS from
--gomaxprocs), runs a scenario against it over the network, and prints a table
or JSON.`,
	}
	pf := cmd.PersistentFlags()
	pf.IntVar(&f.serverCPU, "server-cpu", 0, "CPU to pin the launched node to (-1: not pinned)")
	pf.IntVar(&f.clientCPU, "client-cpu", 1, "CPU to pin the load generator to (-1: not pinned)")
	pf.IntVar(&f.gomaxprocs, "gomaxprocs", 1, "GOMAXPROCS of the launched node (0: Go's default)")
	pf.StringSliceVar(&f.sources, "sources", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, "local addresses to open client sockets from")
	pf.BoolVar(&f.jsonOut, "json", false, "print results as JSON")
	pf.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
	pf.StringVar(&f.target, "target", "", "measure this running node (http://host:port) instead of launching one; it needs --debug-endpoints")
	pf.StringVar(&f.apiKey, "api-key", "", "API key of the --target node")
	pf.IntVar(&f.pid, "pid", 0, "process id of the --target node, to read its memory")
	pf.StringVar(&f.nodeBinary, "node-binary", "", "switchboard executable to launch as the node (another build, to compare); default: this one")
	pf.DurationVar(&f.hold, "hold", 0, "keep the load in place this long after measuring (to profile the node)")

	var conns, channels int
	var idleTransports []string
	idle := &cobra.Command{
		Use:   "idle",
		Short: "Hold N subscribed connections and report the node's memory per connection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTransports(idleTransports); err != nil {
				return err
			}
			if err := pinSelf(f.clientCPU); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			var rows []bench.IdleResult
			for _, t := range idleTransports {
				// A node of its own per transport: memory a transport
				// left behind would be counted in the next one's baseline.
				node, err := f.node(ctx, env, conns, false)
				if err != nil {
					return err
				}
				add, stopProgress := progress(env, t+": connecting", conns)
				res, err := bench.Idle(ctx, bench.IdleConfig{
					Node: node, Transport: t, Conns: conns, Channels: channels, SourceAddrs: f.sources,
					Progress: add, Hold: f.hold,
				})
				stopProgress()
				node.Stop()
				if err != nil {
					return fmt.Errorf("idle over %s: %w", t, err)
				}
				rows = append(rows, res)
			}
			if f.jsonOut {
				if len(rows) == 1 {
					return writeJSON(env.stdout, rows[0])
				}
				return writeJSON(env.stdout, rows)
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "transport\tconns\tbaseline RSS\tloaded RSS\tper conn: anon RSS\theap\tstacks\tgoroutines\tconnect time")
			for _, res := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%.1f MiB\t%.1f MiB\t%.0f B\t%.0f B\t%.0f B\t%.1f\t%s\n", res.Transport, res.Conns,
					mib(res.Baseline.Total), mib(res.Loaded.Total), res.PerConnAnon, res.PerConnHeap, res.PerConnStack,
					res.GoroutinesPerConn, res.ConnectTime.Round(time.Millisecond))
			}
			return tw.Flush()
		},
	}
	idle.Flags().StringSliceVar(&idleTransports, "transport", []string{"websocket"}, "transports to measure, in turn: websocket (or ws), sse, longpoll, poll, grpc")
	idle.Flags().IntVar(&conns, "conns", 10_000, "connections to hold")
	idle.Flags().IntVar(&channels, "channels", 100, "channels to spread them over")
	cmd.AddCommand(idle, newLoadCmd(env, f, "broadcast"), newLoadCmd(env, f, "channels"), newStormCmd(env, f),
		newPresenceCmd(env, f), newConnectCmd(env, f), newFloorServerCmd())
	return cmd
}

// node launches the node under test, or names the --target one.
// A launched node serves TLS with a certificate made for the run when tls
// is set.
func (f *benchFlags) node(ctx context.Context, env *cliEnv, conns int, tls bool) (*bench.Node, error) {
	if f.target != "" {
		if tls {
			return nil, errors.New("--target measures plain HTTP only: TLS needs a node the benchmark launches")
		}
		return &bench.Node{URL: strings.TrimSuffix(f.target, "/"), APIKey: f.apiKey, PID: f.pid}, nil
	}
	return bench.Start(ctx, bench.Launch{
		Binary: f.nodeBinary, TLS: tls,
		CPU: f.serverCPU, GoMaxProcs: f.gomaxprocs, Stderr: env.stderr,
		Args: []string{"--limits.connections", strconv.Itoa(conns + 1000), "--log-level", "warn"},
	})
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// pinSelf re-executes the benchmark under taskset so the load generator
// stays off the node's CPU. It returns only if no re-exec was needed.
func pinSelf(cpu int) error {
	if cpu < 0 || os.Getenv(benchPinnedEnv) != "" {
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil // not pinned: measurements are noisier, still valid
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"taskset", "-c", strconv.Itoa(cpu), self}, os.Args[1:]...)
	err = syscall.Exec(taskset, args, append(os.Environ(), benchPinnedEnv+"=1"))
	return errors.Join(errors.New("re-exec under taskset failed"), err)
}

// progress shows a progress bar on stderr when it is a terminal, and
// nothing otherwise (logs and CI output stay clean). The returned add is
// safe for concurrent use.
func progress(env *cliEnv, what string, total int) (add func(), stop func()) {
	f, ok := env.stderr.(*os.File)
	if !ok {
		return func() {}, func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}, func() {}
	}
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	return func() { _ = bar.Add(1) }, func() { _ = bar.Finish() }
}

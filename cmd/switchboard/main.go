package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

// cliEnv is what every subcommand reads instead of the process globals, so
// tests can run commands with their own arguments, output and environment.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
	configPath     string
}

// load reads the configuration for cmd: its --config file, the environment
// and the setting flags it set.
func (e *cliEnv) load(cmd *cobra.Command) (*config, error) {
	return loadConfig(e.configPath, e.environ, cmd.Flags())
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	env := &cliEnv{stdout: stdout, stderr: stderr, environ: environ}
	root := newRootCmd(env)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "switchboard: %v\n", err)
		return 1
	}
	return 0
}

func newRootCmd(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "switchboard",
		Short: "Switchboard: one real-time server for every kind of client",
		Long: `Switchboard is a real-time server. Clients subscribe to channels over WebSocket
and get every publication in order, resuming after a reconnect with nothing lost
or repeated; backends publish over an HTTP API.

Start a node with "switchboard serve".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a subcommand, show the help rather than fail.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	// --version, as most commands have it, says what `switchboard version`
	// says.
	root.Version = versionString()
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.PersistentFlags().StringVarP(&env.configPath, "config", "c", "",
		"YAML config file (env "+envConfig+")")
	root.AddCommand(
		newServeCmd(env),
		newPublishCmd(env),
		newTokenCmd(env),
		newVersionCmd(env),
		newBenchCmd(env),
	)
	return root
}

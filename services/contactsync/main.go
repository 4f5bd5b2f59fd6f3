// Command contactsync is the all-in-one binary: it runs any set of stages in
// one process (small installs), the delivery loader, and the operator tools.
// `contactsync --help` lists the commands; every command answers --help.
// The demo is its own binary (services/demo) so that this one links no
// in-memory Kafka or Redis.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/gateway"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/matcheval"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/platformsim"
	"github.com/contactsync/contactsync/pkg/review"
	"github.com/contactsync/contactsync/pkg/rules"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, newRoot(os.Getenv), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// newRoot builds the command tree. Commands read their configuration
// through getenv only when they run, never while the tree is built or help
// is printed.
func newRoot(getenv func(string) string) *cobra.Command {
	root := cli.Group(&cobra.Command{
		Use:   "contactsync",
		Short: "keep contact data in sync between online systems and an offline system of record",
		Long: `contactsync runs pipeline stages and the operator tools. Configuration is read
from the environment (contactsync env lists it). Every command answers --help.`,
		Version: cli.Build().String(),
	})
	root.AddCommand(
		&cobra.Command{
			Use:   "deliver",
			Short: "load a system's sink topic into its PostgreSQL staging table, inside its delivery windows",
			Args:  cli.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return app.RunDeliver(cmd.Context(), getenv) },
		},
		&cobra.Command{
			Use:   "apply-offline",
			Short: "apply the offline system's sink topic to its own tables (or as CSV files, or a staging table), inside its delivery windows",
			Long: `apply-offline applies contactsync.sink.<offline> to the system of record, as
CONTACTSYNC_APPLY_MODE says: table (default: its contacts and gifts tables,
idempotent; a field edited offline since the change was decided is re-decided
by its rule or kicked out as apply.conflict), files (CSV import files with
manifests in CONTACTSYNC_APPLY_DIR) or staging (the staging table of
contactsync deliver). It runs only inside CONTACTSYNC_DELIVER_WINDOWS; a
window's backlog (up to CONTACTSYNC_DELIVER_MAX_WINDOW_RECORDS) is one batch,
each person's changes coalesced.`,
			Args: cli.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return app.RunApplyOffline(cmd.Context(), getenv) },
		},
		topicsCommand(getenv),
		rulesCommand(),
		dashboard.Command(kickoutDeps(getenv)),
		matchCommand(),
		matcheval.Command(),
		historyCommand(getenv),
		digestCommand(getenv),
		baselineCommand(getenv),
		&cobra.Command{
			Use:   "env",
			Short: "list the configuration environment variables",
			Args:  cli.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				out := cmd.OutOrStdout()
				for _, e := range app.Env {
					fmt.Fprintf(out, "%-34s default %-24q %s\n", e.Name, e.Default, e.Help)
				}
				fmt.Fprintln(out, "\n# contactsync gateway")
				for _, e := range gateway.Env {
					fmt.Fprintf(out, "%-34s default %-24q %s\n", e.Name, e.Default, e.Help)
				}
				fmt.Fprintln(out, "\n# contactsync platform-sim")
				for _, e := range platformsim.Env {
					fmt.Fprintf(out, "%-34s default %-24q %s\n", e.Name, e.Default, e.Help)
				}
			},
		},
		cli.VersionCommand(),
	)
	root.AddCommand(runCommand(getenv), healthcheckCommand(getenv), lagCommand(getenv))
	root.AddCommand(onlineCommands(getenv)...)
	return root
}

func runCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [--stages ingest,matcher,router,collector]",
		Short: "run pipeline stages (default: all) in one process until interrupted",
		Args:  cli.NoArgs,
	}
	stages := cmd.Flags().String("stages", strings.Join(app.AllStages, ","), "comma-separated stages to run")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return app.RunService(cmd.Context(), strings.Split(*stages, ","), getenv)
	}
	return cmd
}

func rulesCommand() *cobra.Command {
	cmd := cli.Group(&cobra.Command{Use: "rules", Short: "work with field rules files"})
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "validate a rules file; no service starts on an invalid one",
		Args:  cli.Args(1, 1, "one rules file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rules.Check(args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return err
		},
	})
	return cmd
}

func matchCommand() *cobra.Command {
	cmd := cli.Group(&cobra.Command{Use: "match", Short: "look into matching decisions"})
	cmd.AddCommand(matcheval.ExplainCommand())
	return cmd
}

func topicsCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics [--list]",
		Short: "create the pipeline's topics (idempotent) and list them stage by stage",
		Long: `topics creates every topic of the pipeline's topology that does not exist yet
(existing ones are left as they are; the audit topic gets the configured
retention and cleanup policy), then lists the topology stage by stage:
each stage's consumer group, the topics it reads in which format, and the
topics it writes. With --list it only lists, creating nothing.`,
		Args: cli.NoArgs,
	}
	list := cmd.Flags().Bool("list", false, "only list the topology; create nothing")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return createTopics(cmd.Context(), getenv, *list, cmd.OutOrStdout())
	}
	return cmd
}

// createTopics creates every topic of the topology (unless listOnly) and
// lists the topology stage by stage.
func createTopics(ctx context.Context, getenv func(string) string, listOnly bool, stdout io.Writer) error {
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	topo, err := app.TopologyOf(cfg)
	if err != nil {
		return err
	}
	if !listOnly {
		kopts, err := app.KafkaOptions(cfg)
		if err != nil {
			return err
		}
		topics := topo.AllTopics()
		if err := kafkaops.EnsureTopicsWith(ctx, cfg.KafkaBrokers, topics, cfg.Partitions, -1, topo.TopicConfigs, kopts...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d topics exist (created with %d partitions where missing):\n\n", len(topics), cfg.Partitions)
	}
	return topo.WriteText(stdout)
}

// kickoutDeps opens the kick-out store and a Kafka producer (for replays)
// from the configuration, when a kickouts command that needs them runs.
func kickoutDeps(getenv func(string) string) dashboard.OpenDeps {
	return func(ctx context.Context) (review.Deps, func(), error) {
		cfg, err := app.ConfigFromEnv(getenv)
		if err != nil {
			return review.Deps{}, nil, fmt.Errorf("config: %w", err)
		}
		a, err := app.New(ctx, cfg, zap.NewNop(), obs.NewRegistry())
		if err != nil {
			return review.Deps{}, nil, err
		}
		producer, err := app.KafkaClient(cfg)
		if err != nil {
			_ = a.Close()
			return review.Deps{}, nil, err
		}
		release := func() {
			producer.Close()
			_ = a.Close()
		}
		deps, err := a.DashboardDeps(producer)
		if err != nil {
			release()
			return review.Deps{}, nil, err
		}
		return deps, release, nil
	}
}

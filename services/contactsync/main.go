// Command contactsync is the all-in-one binary: it runs any set of stages in
// one process (small installs), the embedded demo, and the operator tools.
//
//	contactsync run [-stages ingest,matcher,router,collector]
//	contactsync demo [-seed N] [-offline N]
//	contactsync topics
//	contactsync rules check FILE
//	contactsync kickouts list|show|replay|resolve|reviews|approve|reject|audit|hash-password
//	contactsync match explain ...
//	contactsync match-eval --format febrl LEFT.csv [RIGHT.csv]
//	contactsync env
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/demo"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/matcheval"
	"github.com/contactsync/contactsync/pkg/obs"
	"github.com/contactsync/contactsync/pkg/rules"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: contactsync <command> [arguments]

commands:
  run         run pipeline stages (default: all) until interrupted
  demo        run the whole pipeline in-process on generated data and show what happened
  deliver     load a system's sink topic into its PostgreSQL staging table, inside its delivery windows
  topics      create the pipeline's topics (idempotent)
  rules check validate a rules file
  kickouts    list, show, replay kick-outs; approve or reject review items (see contactsync kickouts help)
  match explain  show how two records compare: keys, field levels, weights, score, decision
  match-eval  evaluate matching on a labelled data set (FEBRL)
  env         list the configuration environment variables
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = runStages(ctx, rest, getenv, stderr)
	case "demo":
		err = runDemo(ctx, rest, getenv, stdout, stderr)
	case "deliver":
		err = app.RunDeliver(ctx, getenv)
	case "topics":
		err = createTopics(ctx, getenv, stdout)
	case "rules":
		if len(rest) != 2 || rest[0] != "check" {
			fmt.Fprintln(stderr, "usage: contactsync rules check FILE")
			return 2
		}
		if err = rules.Check(rest[1]); err == nil {
			fmt.Fprintf(stdout, "%s: ok\n", rest[1])
		}
	case "kickouts":
		return kickouts(ctx, rest, getenv, stdout, stderr)
	case "match":
		if len(rest) == 0 || rest[0] != "explain" {
			fmt.Fprintln(stderr, "usage: contactsync match explain [flags] (see contactsync match explain -h)")
			return 2
		}
		return matcheval.ExplainMain(rest[1:], stdout, stderr)
	case "match-eval":
		return matcheval.Main(rest, stdout, stderr)
	case "env":
		for _, e := range app.Env {
			fmt.Fprintf(stdout, "%-34s default %-24q %s\n", e.Name, e.Default, e.Help)
		}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "contactsync %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func runStages(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stages := fs.String("stages", strings.Join(app.AllStages, ","), "comma-separated stages to run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return app.RunService(ctx, strings.Split(*stages, ","), getenv)
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := demo.Options{Out: stdout, Getenv: getenv}
	fs.Uint64Var(&opts.Seed, "seed", 7, "seed of the generated data")
	fs.IntVar(&opts.Offline, "offline", 40, "offline contacts in the initial load")
	fs.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "give up if the pipeline is not idle by then")
	fs.BoolVar(&opts.Verbose, "v", false, "log the pipeline's own messages")
	// In a terminal the demo keeps the dashboard open; in scripts it ends.
	fs.BoolVar(&opts.Serve, "serve", isTerminal(os.Stdin), "keep the pipeline and kick-out dashboard running after the summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return demo.Run(ctx, opts)
}

func createTopics(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	systems, err := app.RuleSystems(cfg)
	if err != nil {
		return err
	}
	topics := cfg.Topics.All(systems)
	kopts, err := app.KafkaOptions(cfg)
	if err != nil {
		return err
	}
	if err := kafkaops.EnsureTopics(ctx, cfg.KafkaBrokers, topics, cfg.Partitions, -1, kopts...); err != nil {
		return err
	}
	for _, t := range topics {
		fmt.Fprintln(stdout, t)
	}
	return nil
}

// kickouts runs the kick-out CLI against the configured Kafka and Redis.
func kickouts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "hash-password" || args[0] == "help") {
		return dashboard.CLI(ctx, args, dashboard.Deps{}, stdout, stderr)
	}
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "contactsync kickouts: config: %v\n", err)
		return 1
	}
	a, err := app.New(ctx, cfg, zap.NewNop(), obs.NewRegistry())
	if err != nil {
		fmt.Fprintf(stderr, "contactsync kickouts: %v\n", err)
		return 1
	}
	defer a.Close()
	producer, err := app.KafkaClient(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "contactsync kickouts: %v\n", err)
		return 1
	}
	defer producer.Close()
	deps, err := a.DashboardDeps(producer)
	if err != nil {
		fmt.Fprintf(stderr, "contactsync kickouts: %v\n", err)
		return 1
	}
	return dashboard.CLI(ctx, args, deps, stdout, stderr)
}

// isTerminal reports whether f is a terminal (/dev/null is a character
// device too, so the file mode cannot tell).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

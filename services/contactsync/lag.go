package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/kafkaops"
)

// lagCommand is `contactsync lag`: each stage's and loader's consumer lag,
// per topic and partition, from the brokers (the same numbers as the
// contactsync_consumer_lag gauge).
func lagCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lag [--stage NAME]...",
		Short: "show each stage's consumer group lag per topic and partition",
		Long: `lag asks the brokers how far each consumer group of the pipeline (the stages
and the loaders of the topology) is behind on each partition of its input
topics: committed offset, end offset and lag. A group in state Empty has no
running member: its lag grows while records arrive.`,
		Args: cli.NoArgs,
	}
	stages := cmd.Flags().StringSlice("stage", nil, "only these stages or loaders (e.g. ingest, deliver-offline); repeatable")
	timeout := cmd.Flags().Duration("timeout", 30*time.Second, "give up after this long")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
		defer cancel()
		return showLag(ctx, getenv, *stages, cmd.OutOrStdout())
	}
	return cmd
}

func showLag(ctx context.Context, getenv func(string) string, only []string, out io.Writer) error {
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	topo, err := app.TopologyOf(cfg)
	if err != nil {
		return err
	}
	var inputs []kafkaops.GroupInputs
	var names []string
	for _, s := range append(slices.Clone(topo.Stages), topo.Loaders...) {
		names = append(names, s.Name)
		if len(only) == 0 || slices.Contains(only, s.Name) {
			inputs = append(inputs, kafkaops.GroupInputs{Group: s.Group, Topics: s.InputTopics()})
		}
	}
	for _, s := range only {
		if !slices.Contains(names, s) {
			return cli.Usagef("unknown stage %q (stages and loaders: %v)", s, names)
		}
	}
	kopts, err := app.KafkaOptions(cfg)
	if err != nil {
		return err
	}
	lags, err := kafkaops.Lags(ctx, cfg.KafkaBrokers, inputs, kopts...)
	if err != nil {
		return err
	}
	return kafkaops.WriteLagTable(out, lags)
}

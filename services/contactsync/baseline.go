package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/baseline"
	"github.com/contactsync/contactsync/pkg/cli"
)

func baselineCommand(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline --offline SOURCE --online SOURCE --report DIR [--apply] [--resume]",
		Short: "point zero before go-live: match both systems' exports in bulk and write a dry-run report",
		Long: `baseline matches the offline system's records and an online system's records in
bulk, with the stream's own normalisers, blocking, match model, thresholds and
field rules, and writes a dry-run report into DIR: index.html (counts and a
chart of differences per field) and CSV files: links.csv (with the reasons in
words), ambiguous.csv (for a person to decide), creates_SYSTEM.csv (records each
system would get created), differences.csv (per linked pair and field: both
values, the value the rules choose and where it would be sent) and
rejected.csv. Without --apply it is a dry run that needs neither Kafka nor Redis.

--apply then seeds what the report says where the live pipeline reads it: the
identity index, person links and golden states in Redis, and the report's
records (creates, the offline id stamped on online records, field changes) on
the sink topics, so that the first live event of a baselined person is a no-op
unless something changed. A person who has a golden state already is left
alone, so applying twice changes nothing.

A SOURCE is a CSV export with a header row (a record_id column, columns named
like the canonical fields, optional updated_at and reference_source; or --map
FIELD=COLUMN,..., where record_id=COLUMN names the id column), a postgres:// DSN,
read from --table (columns of the offline schema, or --map), or kafka://TOPIC:
the current contents of one of the pipeline's input topics (kafka:// alone: the
side's own input topic), each key's latest value up to the end each partition
had at the start, read_committed, decoded as the ingest stage decodes it;
tombstones and delete events delete. The brokers and their security come from
the usual Kafka settings. The rules, match model, system names and default
region come from the usual configuration (contactsync env).

Checkpoints are kept in DIR; --resume continues an interrupted run of the same
inputs and settings and gives the same files.`,
		Example: `  contactsync baseline --offline offline.csv --online online.csv --report point-zero
  contactsync baseline --offline postgres://sync@db/crm --online online.csv \
      --online-map record_id=id,given_name=first_name,family_name=last_name --report point-zero
  contactsync baseline --offline kafka://contactsync.offline.cdc --online kafka:// --report point-zero`,
		Args: cli.NoArgs,
	}
	var opts app.BaselineOptions
	f := cmd.Flags()
	f.StringVar(&opts.Offline, "offline", "", "the offline system's records: a CSV file, a postgres:// DSN or kafka://TOPIC")
	f.StringVar(&opts.Online, "online", "", "the online system's records: a CSV file, a postgres:// DSN or kafka://TOPIC")
	f.StringVar(&opts.Report, "report", "", "directory to write the report into")
	f.BoolVar(&opts.Apply, "apply", false, "seed Redis and emit the report's records to the sink topics (needs Kafka and Redis)")
	f.BoolVar(&opts.Resume, "resume", false, "continue the interrupted run whose checkpoint is in the report directory")
	f.StringVar(&opts.Map, "map", "", "comma-separated FIELD=COLUMN pairs mapping canonical fields to columns of both sources")
	f.StringVar(&opts.OfflineMap, "offline-map", "", "FIELD=COLUMN pairs for the offline source only")
	f.StringVar(&opts.OnlineMap, "online-map", "", "FIELD=COLUMN pairs for the online source only")
	f.StringVar(&opts.Table, "table", "contacts", "table of a postgres:// source")
	f.StringVar(&opts.IDColumn, "id", "", "record id column (default: record_id in CSV, id in PostgreSQL)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var missing []string
		for _, flag := range []struct{ name, value string }{{"--offline", opts.Offline}, {"--online", opts.Online}, {"--report", opts.Report}} {
			if flag.value == "" {
				missing = append(missing, flag.name)
			}
		}
		if len(missing) > 0 {
			return cli.Usagef("missing %s", strings.Join(missing, ", "))
		}
		sum, err := app.RunBaseline(cmd.Context(), getenv, opts, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "read %d %s and %d %s records; %d persons\n", sum.Read[sum.Offline], sum.Offline, sum.Read[sum.Online], sum.Online, sum.Persons)
		fmt.Fprintf(out, "links %d, ambiguous %d, creates %s %d, creates %s %d, linked pairs differing %d, rejected %d\n",
			sum.Links, sum.Ambiguous[sum.Offline]+sum.Ambiguous[sum.Online], sum.Offline, sum.Creates[sum.Offline], sum.Online, sum.Creates[sum.Online],
			sum.PairsDiffering, sum.Rejected[sum.Offline]+sum.Rejected[sum.Online])
		if a := sum.Applied; a != nil {
			fmt.Fprintf(out, "applied: %d persons seeded (%d had a state already, left alone), %d index writes, %d sink records emitted\n",
				a.Persons, a.Skipped, a.IndexWrites, a.Sinks)
		}
		_, err = fmt.Fprintf(out, "report: %s\n", filepath.Join(opts.Report, baseline.FileIndex))
		return err
	}
	return cmd
}

package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/review"
)

const cliLong = `List, show and replay kick-outs; approve or reject held changes (review items).
Actions are audited as --who (default $USER).

Examples:
  contactsync kickouts list --reason decode.json --from 2026-01-01
  contactsync kickouts replay ko-1 ko-2 --who ann
  contactsync kickouts replay --reason rules.invalid_field --dry-run
  contactsync kickouts replay ko-1 --payload-file fixed.json
  contactsync kickouts reject rv-1 --why "returned mail"
  contactsync kickouts export --reason decode.json --out decode-errors.csv
  contactsync kickouts export-reviews --status pending --out reviews.csv`

// OpenDeps returns what the store commands need and a function that
// releases it. Commands call it only once their command line has parsed, so
// `--help` and usage errors touch no Kafka or Redis.
type OpenDeps func(ctx context.Context) (deps review.Deps, release func(), err error)

// Command is `contactsync kickouts`: its subcommands exit 0 done, 1 failed,
// 2 usage error.
func Command(open OpenDeps) *cobra.Command {
	cmd := cli.Group(&cobra.Command{
		Use:   "kickouts",
		Short: "list, show, replay kick-outs; approve or reject review items",
		Long:  cliLong,
	})
	r := cliRunner{open: open}
	cmd.AddCommand(listCommand(r), showCommand(r), replayCommand(r),
		actionCommand(r, "resolve", "close a kick-out without replay", "why it needs no replay", "kick-out id", (*session).resolve),
		reviewsCommand(r),
		actionCommand(r, "approve", "send a held change onward", "why (optional)", "review item id", (*session).approve),
		actionCommand(r, "reject", "drop a held change (--why required)", "why (required)", "review item id", (*session).reject),
		auditCommand(r), exportCommand(r), exportReviewsCommand(r), hashPasswordCommand())
	return cmd
}

type cliRunner struct{ open OpenDeps }

// run returns a RunE that opens the service and runs fn on it.
func (r cliRunner) run(fn func(c *session, ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		deps, release, err := r.open(cmd.Context())
		if err != nil {
			return err
		}
		defer release()
		svc, err := review.NewService(deps)
		if err != nil {
			return err
		}
		return fn(&session{svc: svc, out: cmd.OutOrStdout()}, cmd.Context(), args)
	}
}

type session struct {
	svc *review.Service
	out io.Writer
}

func whoFlag(fs *pflag.FlagSet) *string {
	return fs.String("who", os.Getenv("USER"), "who acts (audited)")
}

// actionCommand is resolve, approve or reject: one id, --who (audited) and
// --why.
func actionCommand(r cliRunner, name, short, whyHelp, what string, do func(c *session, ctx context.Context, id, who, why string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " ID [--why TEXT]",
		Short: short,
		Args:  cli.Args(1, 1, "one "+what),
	}
	w := whoFlag(cmd.Flags())
	y := cmd.Flags().String("why", "", whyHelp)
	cmd.RunE = r.run(func(c *session, ctx context.Context, args []string) error {
		if err := needWho(*w); err != nil {
			return err
		}
		return do(c, ctx, args[0], *w, *y)
	})
	return cmd
}

func needWho(w string) error {
	if strings.TrimSpace(w) == "" {
		return fmt.Errorf("%w: --who is required when $USER is not set", cli.ErrUsage)
	}
	return nil
}

// filterFlags are the queue filters of list and export.
type filterFlags struct{ status, reason, stage, system, query, from, to *string }

func addFilterFlags(fs *pflag.FlagSet) filterFlags {
	return filterFlags{
		status: fs.String("status", review.KickOutOpen, "status, or all"),
		reason: fs.String("reason", "", "reason code"),
		stage:  fs.String("stage", "", "stage"),
		system: fs.String("system", "", "source system"),
		query:  fs.String("q", "", "record id, person id, event id, kick-out id or email"),
		from:   fs.String("from", "", "from date (YYYY-MM-DD or RFC 3339)"),
		to:     fs.String("to", "", "to date, included"),
	}
}

// filter checks the flags before anything is opened.
func (ff filterFlags) filter() (review.Filter, error) {
	f := review.Filter{Status: *ff.status, Reason: *ff.reason, Stage: *ff.stage, System: *ff.system, Query: *ff.query}
	if f.Status == "all" {
		f.Status = ""
	}
	if f.Status != "" && !slices.Contains(review.KickOutStatuses, f.Status) {
		return f, fmt.Errorf("%w: --status %q is not all or one of %v", cli.ErrUsage, f.Status, review.KickOutStatuses)
	}
	var err error
	if f.From, err = parseTimeBound(*ff.from, false); err != nil {
		return f, fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	if f.To, err = parseTimeBound(*ff.to, true); err != nil {
		return f, fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	return f, nil
}

func listCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "list kick-outs, newest first",
		Args:  cli.NoArgs,
	}
	fs := cmd.Flags()
	ff := addFilterFlags(fs)
	limit := fs.Int("limit", 50, "how many")
	asJSON := fs.Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := ff.filter()
		if err != nil {
			return err
		}
		f.Limit = *limit
		return r.run(func(c *session, ctx context.Context, _ []string) error { return c.list(ctx, f, *asJSON) })(cmd, args)
	}
	return cmd
}

func (c *session) list(ctx context.Context, f review.Filter, asJSON bool) error {
	res, err := c.svc.List(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, res)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHEN (UTC)\tSTATUS\tSTAGE\tREASON\tSYSTEM\tRECORD\tERROR")
	for _, k := range res.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.FirstSeen.Format("2006-01-02 15:04"), k.Status,
			k.Stage, k.Reason, dash(k.System), dash(k.RecordID), truncate(oneLine(k.Error), 70))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%d of %d kick-out(s)\n", len(res.Items), res.Total)
	return nil
}

func showCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "show one kick-out: where, why, raw and decoded value, replays",
		Args:  cli.Args(1, 1, "one kick-out id"),
	}
	asJSON := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = r.run(func(c *session, ctx context.Context, args []string) error { return c.show(ctx, args[0], *asJSON) })
	return cmd
}

func (c *session) show(ctx context.Context, id string, asJSON bool) error {
	d, err := c.svc.Show(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, d)
	}
	w := c.out
	fmt.Fprintf(w, "Kick-out   %s (%s)\n", d.ID, d.Status)
	fmt.Fprintf(w, "When       %s\n", d.FirstSeen.Format(time.RFC3339))
	fmt.Fprintf(w, "Where      stage %s, topic %s partition %d offset %d\n", d.Stage, d.Topic, d.Partition, d.Offset)
	fmt.Fprintf(w, "Reason     %s\n           %s\n", d.Reason, d.Help)
	fmt.Fprintf(w, "Error      %s\n", d.Error)
	for _, kv := range [][2]string{{"System", d.System}, {"Record", d.RecordID}, {"Person", d.PersonID},
		{"Event", d.EventID}, {"First event", d.OriginalEventID}, {"Replay of", d.ReplayOf}, {"Failed again as", d.ReplayedAs}} {
		if kv[1] != "" {
			fmt.Fprintf(w, "%-10s %s\n", kv[0], kv[1])
		}
	}
	if d.ReplayCount > 0 {
		fmt.Fprintf(w, "Replays    %d before this attempt\n", d.ReplayCount)
	}
	if d.Explanation != "" {
		fmt.Fprintf(w, "Match      %s\n", d.Explanation)
	}
	if r := d.Replay; r != nil {
		fmt.Fprintf(w, "Replayed   by %s at %s as replay #%d (%s partition %d offset %d)", r.Who,
			r.At.Format(time.RFC3339), r.Count, r.Topic, r.Partition, r.Offset)
		if r.Edited {
			fmt.Fprint(w, " with an edited payload")
		}
		fmt.Fprintln(w)
	}
	if res := d.Resolution; res != nil {
		fmt.Fprintf(w, "Resolved   by %s at %s: %s\n", res.Who, res.At.Format(time.RFC3339), res.Why)
	}
	fmt.Fprintf(w, "\nRaw value (%s, %d bytes):\n%s\n", d.Decoded.FormatLabel, d.Value.Bytes, payloadText(d.Value))
	if d.Decoded.JSONError != "" {
		fmt.Fprintf(w, "\nThe value is %s\n", d.Decoded.JSONError)
	}
	if d.Decoded.DecodeError != "" {
		fmt.Fprintf(w, "\nDecoding failed: %s\n", d.Decoded.DecodeError)
	}
	for _, ch := range d.Decoded.Changes {
		b, _ := json.MarshalIndent(ch, "", "  ")
		fmt.Fprintf(w, "\nDecoded change:\n%s\n", b)
	}
	if !d.CanReplay {
		fmt.Fprintf(w, "\nNot replayable: %s\n", d.CannotReplay)
	}
	return nil
}

func payloadText(p review.Payload) string {
	if p.Text != nil {
		return *p.Text
	}
	return "base64:" + p.Base64
}

func replayCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay (ID... [--payload-file FILE] | --reason R [--stage S] [--system S] [--from DATE] [--to DATE] [--dry-run])",
		Short: "replay kick-outs by id, or every open one that matches, oldest first",
		Long: `Replays the given kick-outs (with --payload-file: one kick-out, with that fixed
payload instead), or every open kick-out that matches the filters, oldest first.`,
		Args: cli.Args(0, -1, "kick-out ids"),
	}
	fs := cmd.Flags()
	w := whoFlag(fs)
	reason := fs.String("reason", "", "replay every open kick-out with this reason")
	stage := fs.String("stage", "", "... in this stage")
	system := fs.String("system", "", "... from this system")
	from := fs.String("from", "", "... from this date")
	to := fs.String("to", "", "... up to this date, included")
	dry := fs.Bool("dry-run", false, "only count")
	payloadFile := fs.String("payload-file", "", "replay this fixed payload instead (one ID only)")
	cmd.RunE = func(cmd *cobra.Command, ids []string) error {
		// The command line is checked before the store is opened.
		bulk := bulkRequest{IDs: ids, Reason: *reason, Stage: *stage, System: *system, From: *from, To: *to, DryRun: *dry}
		sel, err := replaySelection(bulk, *w, *payloadFile)
		if err != nil {
			return err
		}
		return r.run(func(c *session, ctx context.Context, _ []string) error {
			return c.replay(ctx, sel, *w, *dry, *payloadFile)
		})(cmd, ids)
	}
	return cmd
}

// replaySelection rejects the replay command lines that make no sense.
func replaySelection(bulk bulkRequest, who, payloadFile string) (review.Selection, error) {
	if err := needWho(who); err != nil {
		return review.Selection{}, err
	}
	filtered := bulk.Reason != "" || bulk.Stage != "" || bulk.System != "" || bulk.From != "" || bulk.To != ""
	switch {
	case len(bulk.IDs) > 0 && filtered:
		return review.Selection{}, fmt.Errorf("%w: give kick-out ids or filters, not both", cli.ErrUsage)
	case payloadFile != "" && len(bulk.IDs) != 1:
		return review.Selection{}, fmt.Errorf("%w: --payload-file replays exactly one kick-out", cli.ErrUsage)
	case len(bulk.IDs) == 0 && !filtered:
		return review.Selection{}, fmt.Errorf("%w: replay needs kick-out ids or --reason/--stage/--system/--from/--to", cli.ErrUsage)
	}
	sel, err := bulk.selection()
	if err != nil {
		return review.Selection{}, fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	return sel, nil
}

func (c *session) replay(ctx context.Context, sel review.Selection, who string, dryRun bool, payloadFile string) error {
	ids := sel.IDs
	if payloadFile != "" {
		b, err := os.ReadFile(payloadFile)
		if err != nil {
			return err
		}
		payload := string(b)
		r, err := c.svc.Replay(ctx, ids[0], who, &payload)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "%s fixed and resubmitted as replay #%d (%s partition %d offset %d)\n",
			r.ID, r.Count, r.Topic, r.Partition, r.Offset)
		return nil
	}
	res, err := c.svc.ReplayMany(ctx, sel, who, dryRun)
	if err != nil {
		return err
	}
	if res.DryRun {
		fmt.Fprintf(c.out, "%d open kick-out(s) would be replayed\n", res.Matched-res.Remaining)
		return nil
	}
	for _, r := range res.Replayed {
		fmt.Fprintf(c.out, "replayed  %s as replay #%d (%s partition %d offset %d)\n", r.ID, r.Count, r.Topic, r.Partition, r.Offset)
	}
	for _, p := range res.Skipped {
		fmt.Fprintf(c.out, "skipped   %s: %s\n", p.ID, p.Why)
	}
	for _, p := range res.Failed {
		fmt.Fprintf(c.out, "FAILED    %s: %s\n", p.ID, p.Why)
	}
	fmt.Fprintf(c.out, "%d replayed, %d skipped, %d failed", len(res.Replayed), len(res.Skipped), len(res.Failed))
	if res.Remaining > 0 {
		fmt.Fprintf(c.out, ", %d left for the next run", res.Remaining)
	}
	fmt.Fprintln(c.out)
	if len(res.Failed) > 0 || (len(ids) > 0 && len(res.Skipped) > 0) {
		return fmt.Errorf("%d kick-out(s) not replayed", len(res.Failed)+len(res.Skipped))
	}
	return nil
}

func (c *session) resolve(ctx context.Context, id, who, why string) error {
	if err := c.svc.Resolve(ctx, id, who, why); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s resolved\n", id)
	return nil
}

func reviewsCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reviews [--status pending|approved|rejected|all] [--json]",
		Short: "list review items (held changes)",
		Args:  cli.NoArgs,
	}
	fs := cmd.Flags()
	status := fs.String("status", review.ReviewPending, "status, or all")
	limit := fs.Int("limit", 100, "how many")
	asJSON := fs.Bool("json", false, "print JSON")
	cmd.RunE = r.run(func(c *session, ctx context.Context, _ []string) error {
		return c.reviews(ctx, *status, *limit, *asJSON)
	})
	return cmd
}

func (c *session) reviews(ctx context.Context, status string, limit int, asJSON bool) error {
	if status == "all" {
		status = ""
	}
	items, err := c.svc.Reviews(ctx, status, limit)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, items)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED (UTC)\tSTATUS\tPERSON\tTARGET\tREASON\tCHANGE")
	for _, it := range items {
		var diffs []string
		for _, f := range it.Fields {
			diffs = append(diffs, fmt.Sprintf("%s: %q -> %q", f.Field, f.Current, f.Proposed))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.Created.Format("2006-01-02 15:04"), it.Status,
			it.PersonID, it.TargetSystem, it.Reason, truncate(strings.Join(diffs, "; "), 80))
	}
	return tw.Flush()
}

func (c *session) approve(ctx context.Context, id, who, why string) error {
	v, err := c.svc.Approve(ctx, id, who, why)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s approved; sent on as %s\n", v.ID, v.EmittedEventID)
	return nil
}

func (c *session) reject(ctx context.Context, id, who, why string) error {
	if _, err := c.svc.Reject(ctx, id, who, why); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s rejected\n", id)
	return nil
}

func auditCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit [--limit N]",
		Short: "print the audit log, newest first",
		Args:  cli.NoArgs,
	}
	limit := cmd.Flags().Int("limit", 50, "how many")
	cmd.RunE = r.run(func(c *session, ctx context.Context, _ []string) error { return c.audit(ctx, *limit) })
	return cmd
}

func (c *session) audit(ctx context.Context, limit int) error {
	entries, err := c.svc.Audit(ctx, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN (UTC)\tWHO\tACTION\tITEM\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Format("2006-01-02 15:04:05"), e.Who, e.Action, e.Target, e.Detail)
	}
	return tw.Flush()
}

func hashPasswordCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password",
		Short: "read a password on stdin, print its bcrypt hash (for CONTACTSYNC_DASHBOARD_USERS)",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			h, err := HashPassword(strings.TrimRight(line, "\r\n"))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func exportCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export [filters] [--out FILE]",
		Short: "write the kick-outs that match as CSV (for a spreadsheet)",
		Long: fmt.Sprintf(`Writes the kick-outs that match the filters as CSV, newest first, to --out or
stdout: the columns of the queue (no more personal data than the dashboard
shows). Cells that a spreadsheet would run as a formula are prefixed with '.
At most %d rows: a larger selection is cut, and the last row says so.`, MaxExportKickOuts),
		Args: cli.NoArgs,
	}
	fs := cmd.Flags()
	ff := addFilterFlags(fs)
	out := fs.String("out", "", "write to this file instead of stdout")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := ff.filter()
		if err != nil {
			return err
		}
		return r.run(func(c *session, ctx context.Context, _ []string) error {
			return c.export(ctx, *out, cmd.ErrOrStderr(), func(w io.Writer) (ExportResult, error) {
				return ExportKickOuts(ctx, c.svc, f, w)
			})
		})(cmd, args)
	}
	return cmd
}

func exportReviewsCommand(r cliRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export-reviews [--status pending|approved|rejected|all] [--out FILE]",
		Short: "write review items as CSV, one row per held field",
		Long: fmt.Sprintf(`Writes the review items with the status as CSV, newest first, one row per held
field, to --out or stdout. Cells that a spreadsheet would run as a formula
are prefixed with '. At most %d items: the last row says when the cap was
reached.`, MaxExportReviews),
		Args: cli.NoArgs,
	}
	fs := cmd.Flags()
	status := fs.String("status", review.ReviewPending, "status, or all")
	out := fs.String("out", "", "write to this file instead of stdout")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		st := *status
		if st == "all" {
			st = ""
		}
		if st != "" && !slices.Contains(review.ReviewStatuses, st) {
			return fmt.Errorf("%w: --status %q is not all or one of %v", cli.ErrUsage, st, review.ReviewStatuses)
		}
		return r.run(func(c *session, ctx context.Context, _ []string) error {
			return c.export(ctx, *out, cmd.ErrOrStderr(), func(w io.Writer) (ExportResult, error) {
				return ExportReviews(ctx, c.svc, st, w)
			})
		})(cmd, args)
	}
	return cmd
}

// export writes to path (stdout when empty) through a temporary file, so a
// failed export leaves no half file behind; the count goes to stderr.
func (c *session) export(_ context.Context, path string, stderr io.Writer, write func(io.Writer) (ExportResult, error)) error {
	var res ExportResult
	if path == "" {
		var err error
		if res, err = write(c.out); err != nil {
			return err
		}
	} else {
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name()) // after the rename: a no-op
		if res, err = write(tmp); err != nil {
			_ = tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "%d row(s) exported\n", res.Rows)
	if res.Truncated {
		fmt.Fprintln(stderr, res.Note)
	}
	return nil
}

package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/contactsync/contactsync/pkg/redisstore"
)

const cliUsage = `usage: contactsync kickouts COMMAND [flags]

  list     [--status open|replayed|resolved|all] [--reason R] [--stage S] [--system S]
           [--q RECORD-ID|PERSON-ID|EVENT-ID|EMAIL] [--from DATE] [--to DATE] [--limit N] [--json]
  show     ID [--json]
  replay   ID... [--payload-file FILE]       replay kick-outs (FILE: fixed payload, one ID only)
  replay   --reason R [--stage S] [--system S] [--from DATE] [--to DATE] [--dry-run]
                                             replay every open kick-out that matches, oldest first
  resolve  ID --why TEXT                     close a kick-out without replay
  reviews  [--status pending|approved|rejected|all] [--json]
  approve  ID [--why TEXT]                   send a held change onward
  reject   ID --why TEXT
  audit    [--limit N]
  hash-password                              read a password on stdin, print its bcrypt hash

Actions are audited as --who (default $USER).
`

// CLI runs `contactsync kickouts ...` (args may start with "kickouts") and
// returns the exit code: 0 done, 1 failed, 2 usage error.
func CLI(ctx context.Context, args []string, deps Deps, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "kickouts" {
		args = args[1:]
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, cliUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "hash-password" {
		return cliHashPassword(os.Stdin, stdout, stderr)
	}
	svc, err := NewService(deps)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	c := &cli{svc: svc, out: stdout, errw: stderr}
	cmds := map[string]func(context.Context, []string) error{
		"list": c.list, "show": c.show, "replay": c.replay, "resolve": c.resolve,
		"reviews": c.reviews, "approve": c.approve, "reject": c.reject, "audit": c.audit,
	}
	run, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], cliUsage)
		return 2
	}
	switch err := run(ctx, args[1:]); {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stderr, "%v\n\n%s", err, cliUsage)
		return 2
	default:
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
}

var errUsage = errors.New("usage error")

type cli struct {
	svc  *Service
	out  io.Writer
	errw io.Writer
}

// parse parses flags that may come before, between or after positional
// arguments ("replay ko-1 ko-2 --who ann").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func whoFlag(fs *flag.FlagSet) *string {
	return fs.String("who", os.Getenv("USER"), "who acts (audited)")
}

// oneAction parses the flags shared by resolve, approve and reject: one id,
// --who (audited) and --why.
func oneAction(name, whyHelp, what string, args []string) (id, who, why string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	w := whoFlag(fs)
	y := fs.String("why", "", whyHelp)
	ids, err := parse(fs, args)
	if err != nil {
		return "", "", "", err
	}
	if err := needWho(*w); err != nil {
		return "", "", "", err
	}
	if len(ids) != 1 {
		return "", "", "", fmt.Errorf("%w: %s takes one %s", errUsage, name, what)
	}
	return ids[0], *w, *y, nil
}

func needWho(w string) error {
	if strings.TrimSpace(w) == "" {
		return fmt.Errorf("%w: --who is required when $USER is not set", errUsage)
	}
	return nil
}

func (c *cli) list(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	status := fs.String("status", redisstore.KickOutOpen, "status, or all")
	reason := fs.String("reason", "", "reason code")
	stage := fs.String("stage", "", "stage")
	system := fs.String("system", "", "source system")
	query := fs.String("q", "", "record id, person id, event id, kick-out id or email")
	from := fs.String("from", "", "from date (YYYY-MM-DD or RFC 3339)")
	to := fs.String("to", "", "to date, included")
	limit := fs.Int("limit", 50, "how many")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	f := redisstore.KickOutFilter{Status: *status, Reason: *reason, Stage: *stage, System: *system, Query: *query, Limit: *limit}
	if f.Status == "all" {
		f.Status = ""
	}
	var err error
	if f.From, err = parseTimeBound(*from, false); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if f.To, err = parseTimeBound(*to, true); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	res, err := c.svc.List(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
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

func (c *cli) show(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: show takes one kick-out id", errUsage)
	}
	d, err := c.svc.Show(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
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

func payloadText(p Payload) string {
	if p.Text != nil {
		return *p.Text
	}
	return "base64:" + p.Base64
}

func (c *cli) replay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	w := whoFlag(fs)
	reason := fs.String("reason", "", "replay every open kick-out with this reason")
	stage := fs.String("stage", "", "... in this stage")
	system := fs.String("system", "", "... from this system")
	from := fs.String("from", "", "... from this date")
	to := fs.String("to", "", "... up to this date, included")
	dry := fs.Bool("dry-run", false, "only count")
	payloadFile := fs.String("payload-file", "", "replay this fixed payload instead (one ID only)")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := needWho(*w); err != nil {
		return err
	}
	bulk := bulkRequest{IDs: ids, Reason: *reason, Stage: *stage, System: *system, From: *from, To: *to, DryRun: *dry}
	switch {
	case len(ids) > 0 && (*reason != "" || *stage != "" || *system != "" || *from != "" || *to != ""):
		return fmt.Errorf("%w: give kick-out ids or filters, not both", errUsage)
	case *payloadFile != "":
		if len(ids) != 1 {
			return fmt.Errorf("%w: --payload-file replays exactly one kick-out", errUsage)
		}
		b, err := os.ReadFile(*payloadFile)
		if err != nil {
			return err
		}
		payload := string(b)
		r, err := c.svc.Replay(ctx, ids[0], *w, &payload)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "%s fixed and resubmitted as replay #%d (%s partition %d offset %d)\n",
			r.ID, r.Count, r.Topic, r.Partition, r.Offset)
		return nil
	case len(ids) == 0 && *reason == "" && *stage == "" && *system == "" && *from == "" && *to == "":
		return fmt.Errorf("%w: replay needs kick-out ids or --reason/--stage/--system/--from/--to", errUsage)
	}
	sel, err := bulk.selection()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	res, err := c.svc.ReplayMany(ctx, sel, *w, *dry)
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

func (c *cli) resolve(ctx context.Context, args []string) error {
	id, who, why, err := oneAction("resolve", "why it needs no replay", "kick-out id", args)
	if err != nil {
		return err
	}
	if err := c.svc.Resolve(ctx, id, who, why); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s resolved\n", id)
	return nil
}

func (c *cli) reviews(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reviews", flag.ContinueOnError)
	status := fs.String("status", redisstore.ReviewPending, "status, or all")
	limit := fs.Int("limit", 100, "how many")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *status == "all" {
		*status = ""
	}
	items, err := c.svc.Reviews(ctx, *status, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
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

func (c *cli) approve(ctx context.Context, args []string) error {
	id, who, why, err := oneAction("approve", "why (optional)", "review item id", args)
	if err != nil {
		return err
	}
	v, err := c.svc.Approve(ctx, id, who, why)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s approved; sent on as %s\n", v.ID, v.EmittedEventID)
	return nil
}

func (c *cli) reject(ctx context.Context, args []string) error {
	id, who, why, err := oneAction("reject", "why (required)", "review item id", args)
	if err != nil {
		return err
	}
	if _, err := c.svc.Reject(ctx, id, who, why); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s rejected\n", id)
	return nil
}

func (c *cli) audit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	limit := fs.Int("limit", 50, "how many")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	entries, err := c.svc.Audit(ctx, *limit)
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

func cliHashPassword(in io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	h, err := HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
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

package dashboard

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactsync/contactsync/pkg/review"
)

// Exports are for the people who fix data in spreadsheets: the kick-out
// queue and the review items as CSV, with the columns the dashboard shows
// (no more personal data than its pages), the filters of the page applied.

// MaxExportKickOuts bounds one kick-out export: it is read in pages of
// review.MaxLimit, so one request cannot make the store read everything it
// holds. A larger selection is cut, newest first, and the export says so.
const MaxExportKickOuts = 10 * review.MaxLimit

// MaxExportReviews bounds one review export (the review list's own cap).
const MaxExportReviews = review.MaxLimit

// ExportResult says how much an export wrote, and whether it was cut.
type ExportResult struct {
	Rows      int
	Total     int // kick-outs only: how many matched
	Truncated bool
	Note      string // the note written when Truncated
}

var kickOutColumns = []string{"id", "first_seen_utc", "status", "stage", "reason", "system", "record_id", "person_id",
	"event_id", "original_event_id", "replay_count", "replay_of", "replayed_as", "error"}

// ExportKickOuts writes the kick-outs that match f as CSV, newest first, at
// most MaxExportKickOuts of them (f's offset and limit are ignored). When
// the selection is larger, the last row is a note saying how many were left
// out.
func ExportKickOuts(ctx context.Context, svc *review.Service, f review.Filter, w io.Writer) (ExportResult, error) {
	return exportKickOuts(ctx, svc, f, w, review.MaxLimit, MaxExportKickOuts)
}

// exportKickOuts reads pages of pageSize, writing at most maxRows.
func exportKickOuts(ctx context.Context, svc *review.Service, f review.Filter, w io.Writer, pageSize, maxRows int) (ExportResult, error) {
	cw := newSafeCSV(w)
	cw.row(kickOutColumns...)
	// Kick-outs that arrive while the pages are read would shift them.
	if f.To.IsZero() {
		f.To = time.Now().UTC().Add(time.Millisecond)
	}
	f.Offset, f.Limit = 0, pageSize
	var res ExportResult
	for res.Rows < maxRows {
		page, err := svc.List(ctx, f)
		if err != nil {
			return res, err
		}
		res.Total = page.Total
		for _, k := range page.Items {
			if res.Rows == maxRows {
				break
			}
			cw.row(k.ID, k.FirstSeen.UTC().Format(time.RFC3339), k.Status, k.Stage, k.Reason, k.System, k.RecordID,
				k.PersonID, k.EventID, k.OriginalEventID, strconv.Itoa(k.ReplayCount), k.ReplayOf, k.ReplayedAs,
				oneLine(k.Error))
			res.Rows++
		}
		if len(page.Items) < f.Limit || f.Offset+len(page.Items) >= page.Total {
			break
		}
		f.Offset += len(page.Items)
	}
	if res.Total > res.Rows {
		res.Truncated = true
		res.Note = fmt.Sprintf("(truncated: the newest %d of %d matching kick-outs; narrow the filters, e.g. by date, to export the rest)",
			res.Rows, res.Total)
		cw.row(res.Note)
	}
	return res, cw.flush()
}

var reviewColumns = []string{"id", "created_utc", "status", "person_id", "target_system", "reason", "field", "current",
	"proposed", "source_system", "source_record_id", "origin", "event_id", "decided_by", "decided_at_utc", "why",
	"emitted_event_id"}

// ExportReviews writes the review items with status ("" for all) as CSV,
// one row per held field, newest first, at most MaxExportReviews items.
// When the cap is reached the last row is a note saying there may be more.
func ExportReviews(ctx context.Context, svc *review.Service, status string, w io.Writer) (ExportResult, error) {
	items, err := svc.Reviews(ctx, status, MaxExportReviews)
	if err != nil {
		return ExportResult{}, err
	}
	cw := newSafeCSV(w)
	cw.row(reviewColumns...)
	for _, it := range items {
		var by, at, why string
		if d := it.Decision; d != nil {
			by, at, why = d.Who, d.At.UTC().Format(time.RFC3339), oneLine(d.Why)
		}
		fields := it.Fields
		if len(fields) == 0 {
			fields = []review.FieldDiff{{}} // an item still gets its row
		}
		for _, f := range fields {
			cw.row(it.ID, it.Created.UTC().Format(time.RFC3339), it.Status, it.PersonID, it.TargetSystem, it.Reason,
				f.Field, f.Current, f.Proposed, it.Change.SourceSystem, it.Change.SourceRecordID, it.Change.Origin,
				it.Change.EventID, by, at, why, it.EmittedEventID)
		}
	}
	res := ExportResult{Rows: len(items)}
	if len(items) >= MaxExportReviews {
		res.Truncated = true
		res.Note = fmt.Sprintf("(truncated: the newest %d review items; there may be more: export one status at a time)", len(items))
		cw.row(res.Note)
	}
	return res, cw.flush()
}

// safeCSV writes CSV whose cells a spreadsheet will not run: a cell that
// starts with = + - @ (or a tab or carriage return, which some spreadsheets
// skip before looking for one) is prefixed with a single quote, so that
// it is shown as text instead of evaluated as a formula.
type safeCSV struct {
	w   *csv.Writer
	err error
}

func newSafeCSV(w io.Writer) *safeCSV { return &safeCSV{w: csv.NewWriter(w)} }

func (c *safeCSV) row(cells ...string) {
	if c.err != nil {
		return
	}
	out := make([]string, len(cells))
	for i, s := range cells {
		out[i] = SafeCell(s)
	}
	c.err = c.w.Write(out)
}

func (c *safeCSV) flush() error {
	if c.err != nil {
		return fmt.Errorf("write csv: %w", c.err)
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// SafeCell returns s as a spreadsheet shows it as text (see safeCSV).
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// exportFileName names an export by what and when, for Content-Disposition.
func exportFileName(what string, now time.Time) string {
	return fmt.Sprintf("contactsync-%s-%s.csv", what, now.UTC().Format("20060102T150405Z"))
}

func (s *Server) handleExportKickOuts(w http.ResponseWriter, r *http.Request) {
	f, err := filterFromQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.export(w, r, "kickouts", func(out io.Writer) (ExportResult, error) { return ExportKickOuts(r.Context(), s.svc, f, out) })
}

func (s *Server) handleExportReviews(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(review.ReviewStatuses, status) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q is not one of %v", status, review.ReviewStatuses))
		return
	}
	s.export(w, r, "reviews", func(out io.Writer) (ExportResult, error) { return ExportReviews(r.Context(), s.svc, status, out) })
}

// export builds the CSV in memory (it is capped) so that a failure still
// gets a JSON error instead of half a file; a cut export says so in its
// last row and in the X-Export-Truncated header.
func (s *Server) export(w http.ResponseWriter, r *http.Request, what string, write func(io.Writer) (ExportResult, error)) {
	var buf bytes.Buffer
	res, err := write(&buf)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": exportFileName(what, time.Now())}))
	h.Set("X-Export-Rows", strconv.Itoa(res.Rows))
	if res.Truncated {
		h.Set("X-Export-Truncated", res.Note)
	}
	_, _ = w.Write(buf.Bytes())
}

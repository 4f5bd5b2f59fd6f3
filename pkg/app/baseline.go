package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/baseline"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/fieldmap"
	"github.com/contactsync/contactsync/pkg/obs"
)

// BaselineOptions are the flags of `contactsync baseline`.
type BaselineOptions struct {
	Offline, Online string // a CSV file or a postgres:// DSN
	Report          string // the report directory
	Resume          bool
	// Map, OfflineMap and OnlineMap are FIELD=COLUMN,... lists: Map for
	// both sources, the others for one (they win over Map).
	Map, OfflineMap, OnlineMap string
	// Table is the table of a PostgreSQL source; IDColumn its record id
	// column (CSV: record_id; PostgreSQL: id).
	Table    string
	IDColumn string
	// Apply seeds Redis and emits the report's sink records (needs Kafka
	// and Redis).
	Apply bool
}

// RunBaseline runs the dry-run baseline of two sources and writes its
// report. It needs neither Kafka nor Redis: the configuration is read only
// for the rules, the match model, the system names and the default region.
func RunBaseline(ctx context.Context, getenv func(string) string, opts BaselineOptions, progress io.Writer) (baseline.Summary, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return baseline.Summary{}, fmt.Errorf("config: %w", err)
	}
	if getenv("GOGC") == "" {
		// The run's index is most of the heap, long-lived and mostly free
		// of pointers, so collecting at a quarter's growth instead of
		// doubling keeps peak memory near what is live for little CPU.
		defer debug.SetGCPercent(debug.SetGCPercent(baseline.GCPercent))
	}
	return runBaseline(ctx, cfg, opts, progress, nil)
}

// runBaseline runs a baseline; with opts.Apply it seeds through a (built
// from cfg when nil).
func runBaseline(ctx context.Context, cfg Config, opts BaselineOptions, progress io.Writer, a *App) (baseline.Summary, error) {
	rc, err := loadRules(cfg)
	if err != nil {
		return baseline.Summary{}, err
	}
	m, err := newMatcher(cfg)
	if err != nil {
		return baseline.Summary{}, err
	}
	if err := os.MkdirAll(opts.Report, 0o755); err != nil {
		return baseline.Summary{}, fmt.Errorf("report directory: %w", err)
	}
	printer := newProgressPrinter(progress)
	var fingerprint []string
	open := func(spec, sideMap, system string) (baseline.Source, func(), error) {
		idColumn := opts.IDColumn
		fields := map[contact.Field]string{}
		for _, list := range []string{opts.Map, sideMap} {
			// record_id=COLUMN names the id column, in the same list.
			var rest []string
			for part := range strings.SplitSeq(list, ",") {
				if col, ok := strings.CutPrefix(strings.TrimSpace(part), "record_id="); ok {
					idColumn = strings.TrimSpace(col)
					continue
				}
				rest = append(rest, part)
			}
			m, err := fieldmap.Parse(strings.Join(rest, ","))
			if err != nil {
				return nil, func() {}, err
			}
			for f, c := range m {
				fields[f] = c
			}
		}
		sideOpts := opts
		sideOpts.IDColumn = idColumn
		src, close, id, err := openBaselineSource(ctx, cfg, system, spec, sideOpts, fields, printer.print)
		fingerprint = append(fingerprint, id)
		return src, close, err
	}
	offline, closeOffline, err := open(opts.Offline, opts.OfflineMap, rc.SystemOfRecord())
	if err != nil {
		return baseline.Summary{}, fmt.Errorf("--offline: %w", err)
	}
	defer closeOffline()
	online, closeOnline, err := open(opts.Online, opts.OnlineMap, cfg.OnlineSystem)
	if err != nil {
		return baseline.Summary{}, fmt.Errorf("--online: %w", err)
	}
	defer closeOnline()
	bcfg := baseline.Config{
		OfflineSystem: rc.SystemOfRecord(), OnlineSystem: cfg.OnlineSystem, Matcher: m, Rules: rc,
		DefaultRegion: cfg.DefaultRegion,
		Fingerprint: strings.Join(append(fingerprint, "map="+opts.Map, "offline-map="+opts.OfflineMap, "online-map="+opts.OnlineMap,
			"region="+cfg.DefaultRegion, "rules="+cfg.RulesFile, "model="+cfg.MatchModel), " "),
	}
	if opts.Apply {
		if a == nil {
			if a, err = New(ctx, cfg, zap.NewNop(), obs.NewRegistry()); err != nil {
				return baseline.Summary{}, err
			}
			defer a.Close()
		}
		producer, err := KafkaClient(cfg)
		if err != nil {
			return baseline.Summary{}, err
		}
		defer producer.Close()
		bcfg.Seeder = a.BaselineSeeder(producer)
	}
	bcfg.Progress = printer.print
	sum, err := baseline.Run(ctx, bcfg, offline, online, osDir(opts.Report), opts.Resume)
	if printer.terminal && printer.phase != "" {
		fmt.Fprintln(progress)
	}
	return sum, err
}

// openBaselineSource opens a CSV file, a PostgreSQL table or a topic as
// the records of system; id names it for the checkpoint's fingerprint (a
// file by its path, size and time, a topic by its offsets).
func openBaselineSource(ctx context.Context, cfg Config, system, spec string, opts BaselineOptions, fields map[contact.Field]string, progress func(baseline.Progress)) (baseline.Source, func(), string, error) {
	if strings.HasPrefix(spec, KafkaSourcePrefix) {
		// A topic is decoded as the pipeline decodes it: --map and --id
		// are for exports.
		src, id, err := openKafkaSource(ctx, cfg, spec, system, progress)
		if err != nil {
			return nil, func() {}, "", err
		}
		return src, src.close, id, nil
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		src, err := openPGSource(ctx, spec, opts.Table, opts.IDColumn, fields)
		if err != nil {
			return nil, func() {}, "", err
		}
		// The password stays out of the fingerprint, which is stored.
		return src, src.close, "postgres:" + opts.Table, nil
	}
	f, err := os.Open(spec)
	if err != nil {
		return nil, func() {}, "", err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, func() {}, "", err
	}
	src, err := baseline.NewCSVSource(f, st.Size(), baseline.Columns{ID: opts.IDColumn, Fields: fields})
	if err != nil {
		_ = f.Close()
		return nil, func() {}, "", fmt.Errorf("%s: %w", spec, err)
	}
	id := fmt.Sprintf("%s:%d:%d", filepath.Base(spec), st.Size(), st.ModTime().Unix())
	return src, func() { _ = f.Close() }, id, nil
}

// pgSource streams a table of the offline schema (or one mapped with
// --map), in record id order, through one query.
type pgSource struct {
	conn    *pgx.Conn
	rows    pgx.Rows
	idCol   int
	timeCol int
	refCol  int
	fields  []int // column -> index in contact.Fields, -1: not a field
	read    int64
	total   int64
}

func openPGSource(ctx context.Context, dsn, table, idColumn string, mapped map[contact.Field]string) (*pgSource, error) {
	if table == "" {
		table = "contacts"
	}
	if idColumn == "" {
		idColumn = "id"
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &pgSource{conn: conn, idCol: -1, timeCol: -1, refCol: -1}
	ident := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+ident).Scan(&s.total); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("postgres: count %s: %w", table, err)
	}
	column := map[string]contact.Field{}
	for col, f := range decode.DefaultColumns() {
		column[col] = f
	}
	if len(mapped) > 0 {
		column = map[string]contact.Field{}
		for f, col := range mapped {
			column[col] = f
		}
	}
	rows, err := conn.Query(ctx, "SELECT * FROM "+ident+" ORDER BY "+pgx.Identifier{idColumn}.Sanitize())
	if err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("postgres: read %s: %w", table, err)
	}
	s.rows = rows
	for i, fd := range rows.FieldDescriptions() {
		s.fields = append(s.fields, -1)
		switch fd.Name {
		case idColumn:
			s.idCol = i
		case "updated_at":
			s.timeCol = i
		case "reference_source":
			s.refCol = i
		}
		if f, ok := column[fd.Name]; ok {
			s.fields[i] = slices.IndexFunc(contact.Fields, func(info contact.FieldInfo) bool { return info.Name == f })
		}
	}
	if s.idCol < 0 {
		s.close()
		return nil, fmt.Errorf("postgres: %s has no id column %q", table, idColumn)
	}
	return s, nil
}

// Next implements baseline.Source.
func (s *pgSource) Next() (baseline.Record, error) {
	if !s.rows.Next() {
		if err := s.rows.Err(); err != nil {
			return baseline.Record{}, fmt.Errorf("postgres: %w", err)
		}
		return baseline.Record{}, io.EOF
	}
	s.read++
	vals, err := s.rows.Values()
	if err != nil {
		return baseline.Record{}, fmt.Errorf("row %d: %w: %w", s.read, baseline.ErrBadRecord, err)
	}
	rec := baseline.Record{ID: text(vals[s.idCol]), Values: contact.Values{}}
	for i, fi := range s.fields {
		if fi >= 0 && vals[i] != nil {
			rec.Values[contact.Fields[fi].Name] = text(vals[i])
		}
	}
	if s.refCol >= 0 {
		rec.ReferenceSource = text(vals[s.refCol])
	}
	if s.timeCol >= 0 {
		if t, ok := vals[s.timeCol].(time.Time); ok {
			rec.Changed = t.UTC()
		}
	}
	return rec, nil
}

// Progress implements baseline.Sizer.
func (s *pgSource) Progress() (done, total int64) { return s.read, s.total }

func (s *pgSource) close() {
	if s.rows != nil {
		s.rows.Close()
	}
	_ = s.conn.Close(context.Background())
}

// text renders a column value as the decoder reads CDC values: dates as
// YYYY-MM-DD, numerics as plain decimals.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.Format("2006-01-02")
	case pgtype.Numeric:
		return decimalText(x)
	case interface{ Value() (any, error) }:
		if d, err := x.Value(); err == nil && d != nil {
			return fmt.Sprint(d)
		}
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// decimalText renders a numeric as a plain decimal ("125.50"), exactly.
func decimalText(n pgtype.Numeric) string {
	if !n.Valid || n.NaN || n.Int == nil {
		return ""
	}
	digits := new(big.Int).Abs(n.Int).String()
	sign := ""
	if n.Int.Sign() < 0 {
		sign = "-"
	}
	if n.Exp >= 0 {
		return sign + digits + strings.Repeat("0", int(n.Exp))
	}
	frac := int(-n.Exp)
	if len(digits) <= frac {
		digits = strings.Repeat("0", frac-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-frac] + "." + digits[len(digits)-frac:]
}

// osDir is the report directory on disk.
type osDir string

func (d osDir) Append(name string, size int64) (baseline.File, error) {
	f, err := os.OpenFile(filepath.Join(string(d), name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return nil, err
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (d osDir) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}

func (d osDir) WriteFile(name string, data []byte) error {
	path := filepath.Join(string(d), name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = errors.Join(f.Sync(), f.Close())
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// progressPrinter shows how far a run is: a line redrawn in place with rate
// and ETA on a terminal, a log line every 10 seconds otherwise.
type progressPrinter struct {
	w        io.Writer
	terminal bool
	start    time.Time
	phase    string
	last     time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressPrinter) print(pr baseline.Progress) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if pr.Phase != p.phase {
		if p.phase != "" && p.terminal {
			fmt.Fprintln(p.w)
		}
		p.phase, p.start, p.last = pr.Phase, now, time.Time{}
	}
	interval := 10 * time.Second
	if p.terminal {
		interval = 200 * time.Millisecond
	}
	if now.Sub(p.last) < interval {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(pr.Records) / elapsed
	}
	line := fmt.Sprintf("%s: %d records, %.0f/s", pr.Phase, pr.Records, rate)
	if pr.Total > 0 && pr.Done > 0 {
		frac := float64(pr.Done) / float64(pr.Total)
		eta := time.Duration(elapsed/frac*(1-frac)) * time.Second
		line += fmt.Sprintf(", %.0f%%, ETA %s", 100*frac, eta.Round(time.Second))
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintf(p.w, "%s baseline progress %s\n", now.UTC().Format(time.RFC3339), line)
	}
}

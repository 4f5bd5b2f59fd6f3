package pgstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/deliver"
	"github.com/contactsync/contactsync/pkg/offlineapply"
)

// SyncWriter is the value of updated_by on the applier's writes, and the
// session setting contactsync.origin=sync is set in its transactions: the
// reference schema's trigger stamps updated_by from it, and the Debezium
// decoder reads it as origin=sync, so the applier's own writes come back
// through CDC as echoes and are never propagated.
const SyncWriter = "contactsync"

// OfflineConfig says where the offline system keeps its contacts and gifts.
type OfflineConfig struct {
	// Schema, when set, is the search_path of the connections.
	Schema        string
	ContactsTable string // default "contacts"
	GiftsTable    string // default "gifts"
	// Columns maps the contacts table's columns to canonical fields
	// (decode.DefaultColumns for the reference schema).
	Columns map[string]contact.Field
	// IDPrefix makes the id of a contact the sync creates: prefix + person id
	// (deterministic, so a create retried after a crash finds its row).
	IDPrefix string // default "cs-"
	// Rules says, per field, whether an offline edit made since the sync
	// decided a change wins by its field rule (offlineapply.FieldRules); a
	// field not listed goes to a person as apply.conflict.
	Rules offlineapply.FieldRules
	// GiftSource is the reference source of a gift whose sink record names
	// none: the one system gifts come from in the rules, or empty when
	// several do. The router names it on every gift now; this serves the
	// gift records written before it did, still in the sink topic.
	GiftSource string
	// Fields are the fields Columns may name: the built-in ones and the
	// rules file's custom fields. Nil: the built-in ones.
	Fields *contact.FieldSet
	// HouseholdColumn, when set, is the contacts table's column for the
	// person's household id (contact.OfflineMapping.HouseholdColumn):
	// written on create and whenever a contact step brings another one.
	// Empty: not written.
	HouseholdColumn string
}

// OfflineConfigFor is the configuration of the contact table and columns
// as the rules file's mapping names them, with its custom fields.
func OfflineConfigFor(schema string, m contact.OfflineMapping, fs *contact.FieldSet) OfflineConfig {
	return OfflineConfig{Schema: schema, ContactsTable: m.ContactsTable, Columns: m.Columns, Fields: fs,
		HouseholdColumn: m.HouseholdColumn}
}

// Offline applies an offline system's sink records to its own tables: the
// `table` mode of `contactsync apply`. Per batch, in one transaction: the
// event ids it already applied are skipped (contactsync_applied_events),
// the rest are coalesced (offlineapply.Coalesce) and each contact change is
// re-decided against the row as it is (offlineapply.Decide, by the fields'
// rules) and written with a conditional update on the row version.
type Offline struct {
	pool    *pgxpool.Pool
	cfg     OfflineConfig
	columns []offlineColumn // in canonical field order
}

type offlineColumn struct {
	name string
	info contact.FieldInfo
}

// OpenOffline connects (the DSN is never logged) and creates the applier's
// own tables if missing; the offline system's tables must exist.
func OpenOffline(ctx context.Context, dsn string, cfg OfflineConfig) (*Offline, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.ContactsTable, "contacts")
	def(&cfg.GiftsTable, "gifts")
	def(&cfg.IDPrefix, "cs-")
	for _, n := range []string{cfg.ContactsTable, cfg.GiftsTable} {
		if !tableName.MatchString(n) {
			return nil, fmt.Errorf("offline table %q: want a lower-case SQL name", n)
		}
	}
	if cfg.Schema != "" && !tableName.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("offline schema %q: want a lower-case SQL name", cfg.Schema)
	}
	if h := cfg.HouseholdColumn; h != "" && (!tableName.MatchString(h) || cfg.Columns[h] != "") {
		return nil, fmt.Errorf("offline household column %q: want a lower-case SQL name that no field is mapped to", h)
	}
	if cfg.Fields == nil {
		cfg.Fields = contact.BuiltIn()
	}
	o := &Offline{cfg: cfg}
	for name, f := range cfg.Columns {
		info, ok := cfg.Fields.Lookup(f)
		if !ok {
			return nil, fmt.Errorf("offline column %q maps to unknown field %q", name, f)
		}
		if !tableName.MatchString(name) {
			return nil, fmt.Errorf("offline column %q: want a lower-case SQL name", name)
		}
		o.columns = append(o.columns, offlineColumn{name: name, info: info})
	}
	if len(o.columns) == 0 {
		return nil, errors.New("offline columns: none mapped")
	}
	slices.SortFunc(o.columns, func(a, b offlineColumn) int {
		return cfg.Fields.Position(a.info.Name) - cfg.Fields.Position(b.info.Name)
	})
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres DSN: cannot parse it (check its syntax; it is not shown because it may hold a password)")
	}
	if cfg.Schema != "" {
		pcfg.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	}
	if o.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := o.pool.Exec(ctx, `
CREATE TABLE IF NOT EXISTS contactsync_applied_events (
	event_id        text PRIMARY KEY,
	person_id       text NOT NULL,
	contact_id      text,
	kafka_topic     text NOT NULL,
	kafka_partition integer NOT NULL,
	kafka_offset    bigint NOT NULL,
	kickout_reason  text,
	kickout_error   text,
	kickout_detail  jsonb,
	applied_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS contactsync_person_links (
	person_id  text PRIMARY KEY,
	contact_id text NOT NULL
);
CREATE TABLE IF NOT EXISTS contactsync_synced_rows (
	contact_id text PRIMARY KEY,
	base       jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE contactsync_synced_rows IS 'per contact, each field as the sync last wrote or saw it: the base a change is re-decided against';`); err != nil {
		o.pool.Close()
		return nil, fmt.Errorf("create the applier's tables: %w", err)
	}
	return o, nil
}

// Close closes the connections.
func (o *Offline) Close() { o.pool.Close() }

// Apply implements deliver.Store; kick-outs are dropped, so the loader uses
// ApplyReporting.
func (o *Offline) Apply(ctx context.Context, batch []deliver.Delivery) (int, error) {
	out, err := o.ApplyReporting(ctx, batch)
	return out.Applied, err
}

// ApplyReporting applies the batch in one transaction and returns the
// conflicts as apply.conflict kick-outs (again for a redelivered batch).
func (o *Offline) ApplyReporting(ctx context.Context, batch []deliver.Delivery) (deliver.Outcome, error) {
	if len(batch) == 0 {
		return deliver.Outcome{}, nil
	}
	tx, err := o.pool.Begin(ctx)
	if err != nil {
		return deliver.Outcome{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SET LOCAL contactsync.origin = 'sync'`); err != nil {
		return deliver.Outcome{}, fmt.Errorf("tag the transaction: %w", err)
	}
	fresh, out, err := o.skipApplied(ctx, tx, batch)
	if err != nil {
		return deliver.Outcome{}, err
	}
	recs := make([]contact.SinkRecord, len(fresh))
	for i, d := range fresh {
		recs[i] = d.Record
	}
	contactOf := map[int]string{} // index in fresh -> contact id
	kicked := map[int]contact.KickOut{}
	for _, step := range offlineapply.Coalesce(recs) {
		last := fresh[step.Indexes[len(step.Indexes)-1]]
		id, ko, err := o.applyStep(ctx, tx, step, last)
		if err != nil {
			return deliver.Outcome{}, fmt.Errorf("event %s: %w", last.Record.EventID, err)
		}
		for _, i := range step.Indexes {
			contactOf[i] = id
		}
		if ko != nil {
			kicked[step.Indexes[len(step.Indexes)-1]] = *ko
			out.KickOuts = append(out.KickOuts, *ko)
		}
	}
	var rows pgx.Batch
	for i, d := range fresh {
		var reason, msg *string
		var detail []byte
		if ko, ok := kicked[i]; ok {
			reason, msg, detail = &ko.Reason, &ko.Error, []byte(ko.Explanation)
		}
		rows.Queue(`INSERT INTO contactsync_applied_events (event_id, person_id, contact_id, kafka_topic, kafka_partition,
	kafka_offset, kickout_reason, kickout_error, kickout_detail) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9::text::jsonb)`,
			d.Record.EventID, d.Record.PersonID, contactOf[i], d.Topic, d.Partition, d.Offset, reason, msg, nullJSON(detail))
	}
	if err := tx.SendBatch(ctx, &rows).Close(); err != nil {
		return deliver.Outcome{}, fmt.Errorf("record applied events: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return deliver.Outcome{}, fmt.Errorf("commit: %w", err)
	}
	out.Applied = len(fresh)
	return out, nil
}

// applyStep applies one step under a savepoint: a value the database
// refuses (a data exception or a constraint, e.g. a number too large for
// its column) undoes the step alone and kicks it out as apply.invalid, so
// one bad record never blocks the partition. The error names the SQLSTATE,
// column and constraint, never the value (the database's message may
// quote it).
func (o *Offline) applyStep(ctx context.Context, tx pgx.Tx, step offlineapply.Step, last deliver.Delivery) (string, *contact.KickOut, error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT contactsync_step`); err != nil {
		return "", nil, fmt.Errorf("savepoint: %w", err)
	}
	var id string
	var ko *contact.KickOut
	var err error
	if step.Entity == contact.EntityGift {
		id, ko, err = o.applyGift(ctx, tx, step, last)
	} else {
		id, ko, err = o.applyContact(ctx, tx, step, last)
	}
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		if _, rbErr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT contactsync_step`); rbErr != nil {
			return "", nil, fmt.Errorf("rollback to savepoint: %w", rbErr)
		}
		refused := applyKickOut(last, "apply.invalid", fmt.Sprintf("the offline database refused the change: SQLSTATE %s (column %q, constraint %q)",
			pgErr.Code, pgErr.ColumnName, pgErr.ConstraintName), "")
		return id, &refused, nil
	}
	if err != nil {
		return "", nil, err
	}
	if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT contactsync_step`); err != nil {
		return "", nil, fmt.Errorf("release savepoint: %w", err)
	}
	return id, ko, nil
}

func nullJSON(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// skipApplied drops the records already applied (and copies within the
// batch), and reports the kick-outs those applied records had.
func (o *Offline) skipApplied(ctx context.Context, tx pgx.Tx, batch []deliver.Delivery) ([]deliver.Delivery, deliver.Outcome, error) {
	ids := make([]string, len(batch))
	for i, d := range batch {
		ids[i] = d.Record.EventID
	}
	rows, err := tx.Query(ctx, `SELECT event_id, kickout_reason, kickout_error, kickout_detail::text
	FROM contactsync_applied_events WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return nil, deliver.Outcome{}, fmt.Errorf("read applied events: %w", err)
	}
	type past struct{ reason, msg, detail *string }
	applied := map[string]past{}
	for rows.Next() {
		var id string
		var p past
		if err := rows.Scan(&id, &p.reason, &p.msg, &p.detail); err != nil {
			rows.Close()
			return nil, deliver.Outcome{}, fmt.Errorf("read applied events: %w", err)
		}
		applied[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, deliver.Outcome{}, fmt.Errorf("read applied events: %w", err)
	}
	var out deliver.Outcome
	var fresh []deliver.Delivery
	seen := map[string]bool{}
	for _, d := range batch {
		id := d.Record.EventID
		if p, ok := applied[id]; ok {
			if p.reason != nil && !seen[id] {
				out.KickOuts = append(out.KickOuts, applyKickOut(d, *p.reason, deref(p.msg), deref(p.detail)))
			}
			seen[id] = true
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		fresh = append(fresh, d)
	}
	return fresh, out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// applyKickOut is a kick-out of the applier for one delivered record; its id
// depends on the event and the reason only, so a redelivery repeats it.
func applyKickOut(d deliver.Delivery, reason, msg, detail string) contact.KickOut {
	sum := sha256.Sum256([]byte("apply|" + reason + "|" + d.Record.EventID))
	now := time.Now().UTC()
	return contact.KickOut{ID: "ko-" + hex.EncodeToString(sum[:10]), Reason: reason, Stage: "apply", Error: msg,
		Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Key: d.Key, Value: d.Value,
		EventID: d.Record.EventID, PersonID: d.Record.PersonID, Explanation: detail, FirstSeen: now, LastSeen: now}
}

// contactID finds the offline id of the step's contact: the record's
// target id, or the one the sync created or linked for the person.
func (o *Offline) contactID(ctx context.Context, tx pgx.Tx, step offlineapply.Step) (string, error) {
	if step.TargetRecordID != "" {
		return step.TargetRecordID, nil
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT contact_id FROM contactsync_person_links WHERE person_id = $1`, step.PersonID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("person link: %w", err)
	}
	return id, nil
}

func (o *Offline) link(ctx context.Context, tx pgx.Tx, personID, id string) error {
	if personID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO contactsync_person_links (person_id, contact_id) VALUES ($1, $2)
	ON CONFLICT (person_id) DO UPDATE SET contact_id = EXCLUDED.contact_id`, personID, id)
	if err != nil {
		return fmt.Errorf("person link: %w", err)
	}
	return nil
}

func (o *Offline) applyGift(ctx context.Context, tx pgx.Tx, step offlineapply.Step, last deliver.Delivery) (string, *contact.KickOut, error) {
	id, err := o.contactID(ctx, tx, step)
	if err != nil {
		return "", nil, err
	}
	g := step.Gift
	if g == nil {
		ko := applyKickOut(last, "apply.invalid", "gift record without a gift", "")
		return id, &ko, nil
	}
	if id == "" {
		ko := applyKickOut(last, "apply.no_record", "gift for a person with no offline contact yet (no target record id, none created)", "")
		return id, &ko, nil
	}
	var exists bool
	if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)`, o.cfg.ContactsTable), id).Scan(&exists); err != nil {
		return "", nil, fmt.Errorf("find the gift's contact: %w", err)
	}
	if !exists {
		ko := applyKickOut(last, "apply.no_record", "gift for an offline contact that does not exist", "")
		return id, &ko, nil
	}
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (gift_id, contact_id, amount, currency, received_at, campaign, fund,
	payment_method, reference_source, updated_by)
VALUES ($1, $2, $3::numeric / 100, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), $10)
ON CONFLICT (gift_id) DO NOTHING`, o.cfg.GiftsTable),
		g.GiftID, id, g.AmountMinor, g.Currency, g.ReceivedAt, g.Campaign, g.Fund, g.PaymentMethod, cmp.Or(last.Record.ReferenceSource, o.cfg.GiftSource), SyncWriter)
	if err != nil {
		return "", nil, fmt.Errorf("insert gift: %w", err)
	}
	return id, nil, nil
}

// offlineRow is a contact row as read for a decision.
type offlineRow struct {
	values    contact.Values
	version   int64
	updatedAt time.Time
	updatedBy string
	// householdID is the household column's value ("" without one).
	householdID string
}

func (o *Offline) readRow(ctx context.Context, tx pgx.Tx, id string) (*offlineRow, contact.Values, error) {
	cols := make([]string, len(o.columns))
	for i, c := range o.columns {
		cols[i] = c.name + "::text"
	}
	household := "NULL::text"
	if o.cfg.HouseholdColumn != "" {
		household = "c." + o.cfg.HouseholdColumn + "::text"
	}
	q := fmt.Sprintf(`SELECT %s, c.row_version, c.updated_at, c.updated_by, s.base::text, %s
	FROM %s c LEFT JOIN contactsync_synced_rows s ON s.contact_id = c.id WHERE c.id = $1`,
		strings.Join(cols, ", "), household, o.cfg.ContactsTable)
	vals := make([]*string, len(o.columns))
	dest := make([]any, 0, len(vals)+4)
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	row := &offlineRow{values: contact.Values{}}
	var base, householdID *string
	dest = append(dest, &row.version, &row.updatedAt, &row.updatedBy, &base, &householdID)
	if err := tx.QueryRow(ctx, q, id).Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read contact: %w", err)
	}
	for i, c := range o.columns {
		if vals[i] != nil {
			row.values[c.info.Name] = *vals[i]
		}
	}
	row.householdID = deref(householdID)
	var known contact.Values
	if base != nil {
		if err := json.Unmarshal([]byte(*base), &known); err != nil {
			return nil, nil, fmt.Errorf("read the sync's base: %w", err)
		}
	}
	return row, known, nil
}

func (o *Offline) column(f contact.Field) (offlineColumn, bool) {
	for _, c := range o.columns {
		if c.info.Name == f {
			return c, true
		}
	}
	return offlineColumn{}, false
}

// param is a value as a query argument and its SQL cast: text is sent and
// cast by the server, so every kind travels the same way. A cleared consent
// flag becomes false (the reference schema's flags are NOT NULL).
func param(c offlineColumn, v string) (any, string) {
	typ := map[contact.Kind]string{contact.Text: "text", contact.Bool: "boolean", contact.Date: "date", contact.Decimal: "numeric",
		contact.Enum: "text"}[c.info.Kind]
	if v == "" {
		if c.info.Kind == contact.Bool && !c.info.Custom {
			return "false", typ
		}
		return nil, typ
	}
	return v, typ
}

// applyContact writes one coalesced contact step: it inserts the row for a
// create, or re-decides the step against the row and writes the decision
// only if the row version is still the one decided against (else reads and
// decides again).
func (o *Offline) applyContact(ctx context.Context, tx pgx.Tx, step offlineapply.Step, last deliver.Delivery) (string, *contact.KickOut, error) {
	id, err := o.contactID(ctx, tx, step)
	if err != nil {
		return "", nil, err
	}
	if id == "" && step.Op == contact.SinkCreate {
		id = o.cfg.IDPrefix + step.PersonID
	}
	if id == "" {
		ko := applyKickOut(last, "apply.no_record", "update for a person with no offline contact (no target record id, none created)", "")
		return "", &ko, nil
	}
	for attempt := 0; attempt < 5; attempt++ {
		row, base, err := o.readRow(ctx, tx, id)
		if err != nil {
			return "", nil, err
		}
		if row == nil {
			if step.Op != contact.SinkCreate {
				ko := applyKickOut(last, "apply.no_record", "update for an offline contact that does not exist", "")
				return id, &ko, nil
			}
			inserted, err := o.insert(ctx, tx, id, step)
			if err != nil {
				return "", nil, err
			}
			if !inserted {
				continue // created meanwhile: decide against it
			}
			return id, nil, o.link(ctx, tx, step.PersonID, id)
		}
		r := offlineapply.Row{Current: row.values, Base: base}
		if row.updatedBy != SyncWriter {
			r.EditedOfflineAt = row.updatedAt
		}
		o.respell(r.Current, step.Target())
		o.respell(r.Base, step.Target())
		d := offlineapply.Decide(step, r, o.cfg.Rules)
		household := o.householdChange(row, step)
		if !d.Empty() || household != "" {
			ok, err := o.update(ctx, tx, id, row.version, d, household)
			if err != nil {
				return "", nil, err
			}
			if !ok {
				continue // the row moved under us: decide again
			}
		}
		if err := o.remember(ctx, tx, id, step); err != nil {
			return "", nil, err
		}
		if err := o.link(ctx, tx, step.PersonID, id); err != nil {
			return "", nil, err
		}
		if len(d.Conflicts) == 0 {
			return id, nil, nil
		}
		detail, err := json.Marshal(struct {
			ContactID string                  `json:"contact_id"`
			Conflicts []offlineapply.Conflict `json:"conflicts"`
		}{id, d.Conflicts})
		if err != nil {
			return "", nil, err
		}
		fields := make([]string, len(d.Conflicts))
		for i, c := range d.Conflicts {
			fields[i] = string(c.Field)
		}
		ko := applyKickOut(last, "apply.conflict", fmt.Sprintf("offline contact %s was edited offline since the sync's base: kept its %s",
			id, strings.Join(fields, ", ")), string(detail))
		return id, &ko, nil
	}
	return "", nil, fmt.Errorf("contact %s: the row kept changing under the applier", id)
}

// respell makes a decimal the row holds read like the value the step wants
// when both are the same number (125.50 and 125.5), so it is not taken for
// a difference.
func (o *Offline) respell(current, want contact.Values) {
	for f, v := range want {
		c, ok := o.column(f)
		if !ok || c.info.Kind != contact.Decimal {
			continue
		}
		a, okA := new(big.Rat).SetString(v)
		b, okB := new(big.Rat).SetString(current[f])
		if okA && okB && a.Cmp(b) == 0 {
			current[f] = v
		}
	}
}

// householdChange is the household id the step writes to the row: the
// step's, when the table has a household column and the row holds another
// one; else "". The household id is the sync's own data: no offline edit
// of the column is kept against it.
func (o *Offline) householdChange(row *offlineRow, step offlineapply.Step) string {
	if o.cfg.HouseholdColumn == "" || step.HouseholdID == "" || row.householdID == step.HouseholdID {
		return ""
	}
	return step.HouseholdID
}

func (o *Offline) insert(ctx context.Context, tx pgx.Tx, id string, step offlineapply.Step) (bool, error) {
	names := []string{"id", "reference_source", "updated_by"}
	args := []any{id, nullIfEmpty(step.ReferenceSource), SyncWriter}
	exprs := []string{"$1", "$2", "$3"}
	if o.cfg.HouseholdColumn != "" && step.HouseholdID != "" {
		names = append(names, o.cfg.HouseholdColumn)
		args = append(args, step.HouseholdID)
		exprs = append(exprs, fmt.Sprintf("$%d", len(args)))
	}
	for _, c := range o.columns {
		v, ok := step.Set[c.info.Name]
		if !ok {
			continue
		}
		a, typ := param(c, v)
		names = append(names, c.name)
		args = append(args, a)
		exprs = append(exprs, fmt.Sprintf("$%d::text::%s", len(args), typ))
	}
	tag, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (id) DO NOTHING`,
		o.cfg.ContactsTable, strings.Join(names, ", "), strings.Join(exprs, ", ")), args...)
	if err != nil {
		return false, fmt.Errorf("insert contact: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, o.remember(ctx, tx, id, step)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (o *Offline) update(ctx context.Context, tx pgx.Tx, id string, version int64, d offlineapply.Decision, household string) (bool, error) {
	sets := []string{"updated_at = now()", "updated_by = $3"}
	args := []any{id, version, SyncWriter}
	if household != "" {
		args = append(args, household)
		sets = append(sets, fmt.Sprintf("%s = $%d", o.cfg.HouseholdColumn, len(args)))
	}
	add := func(f contact.Field, v string) {
		c, ok := o.column(f)
		if !ok {
			return // a field this offline system does not keep
		}
		a, typ := param(c, v)
		args = append(args, a)
		sets = append(sets, fmt.Sprintf("%s = $%d::text::%s", c.name, len(args), typ))
	}
	for _, c := range o.columns {
		if v, ok := d.Set[c.info.Name]; ok {
			add(c.info.Name, v)
		}
		if slices.Contains(d.Clear, c.info.Name) {
			add(c.info.Name, "")
		}
	}
	tag, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE id = $1 AND row_version = $2`,
		o.cfg.ContactsTable, strings.Join(sets, ", ")), args...)
	if err != nil {
		return false, fmt.Errorf("update contact: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// remember moves the sync's base of the row's fields the step touched to
// what the row now holds: what the sync wrote, or the offline value it kept
// in a conflict. The next change of the field is decided against that.
func (o *Offline) remember(ctx context.Context, tx pgx.Tx, id string, step offlineapply.Step) error {
	fields := make([]contact.Field, 0, len(step.Set)+len(step.Clear))
	for f := range step.Target() {
		fields = append(fields, f)
	}
	return o.rememberValues(ctx, tx, id, fields)
}

func (o *Offline) rememberValues(ctx context.Context, tx pgx.Tx, id string, fields []contact.Field) error {
	// The base is read back from the row, spelled as the row spells it
	// (125.50 for 125.5, false for a cleared flag).
	row, _, err := o.readRow(ctx, tx, id)
	if err != nil || row == nil {
		return err
	}
	base := contact.Values{}
	for _, f := range fields {
		if _, ok := o.column(f); ok {
			base[f] = row.values[f]
		}
	}
	doc, err := json.Marshal(base)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO contactsync_synced_rows (contact_id, base) VALUES ($1, $2::text::jsonb)
	ON CONFLICT (contact_id) DO UPDATE SET base = contactsync_synced_rows.base || EXCLUDED.base, updated_at = now()`, id, string(doc))
	if err != nil {
		return fmt.Errorf("remember the sync's base: %w", err)
	}
	return nil
}

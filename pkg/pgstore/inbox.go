// Package pgstore delivers sink records into a PostgreSQL staging table, the
// way many offline systems of record take data in: the sync writes rows, the
// system's own import job reads the rows it has not applied yet and marks
// them. contactsync never writes the system's own tables.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/deliver"
)

// Inbox is a staging table of sink records, one row per event id.
type Inbox struct {
	pool  *pgxpool.Pool
	table string
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects (the DSN may hold a password: it is never logged) and creates
// the table if it is missing.
func Open(ctx context.Context, dsn, table string) (*Inbox, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("inbox table %q: want a lower-case SQL name", table)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("postgres DSN: cannot parse it (check its syntax; it is not shown because it may hold a password)")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	in := &Inbox{pool: pool, table: table}
	if err := in.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return in, nil
}

// Close closes the connections.
func (in *Inbox) Close() { in.pool.Close() }

func (in *Inbox) migrate(ctx context.Context) error {
	_, err := in.pool.Exec(ctx, fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	event_id         text PRIMARY KEY,
	target_system    text NOT NULL,
	entity           text NOT NULL,
	op               text NOT NULL,
	person_id        text NOT NULL,
	target_record_id text,
	reference_source text,
	payload          jsonb NOT NULL,
	source_time      timestamptz,
	kafka_topic      text NOT NULL,
	kafka_partition  integer NOT NULL,
	kafka_offset     bigint NOT NULL,
	delivered_at     timestamptz NOT NULL DEFAULT now(),
	applied_at       timestamptz
);
CREATE INDEX IF NOT EXISTS %[1]s_pending ON %[1]s (delivered_at) WHERE applied_at IS NULL;
COMMENT ON COLUMN %[1]s.applied_at IS 'set by the system''s import job once it has applied the row';`, in.table))
	if err != nil {
		return fmt.Errorf("create inbox table %s: %w", in.table, err)
	}
	return nil
}

// payload is the row's JSON: what to write, in the target system's terms.
type payload struct {
	Set    contact.Values    `json:"set,omitempty"`
	Clear  []contact.Field   `json:"clear,omitempty"`
	Gift   *contact.Gift     `json:"gift,omitempty"`
	Links  map[string]string `json:"links,omitempty"`
	Reason string            `json:"reason,omitempty"`
	// HouseholdID is the person's household id (SinkRecord.HouseholdID).
	HouseholdID string `json:"household_id,omitempty"`
}

// Apply inserts the batch in one transaction in the given (partition)
// order; rows whose event id is already there are left alone.
func (in *Inbox) Apply(ctx context.Context, batch []deliver.Delivery) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	tx, err := in.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	insert := fmt.Sprintf(`INSERT INTO %s (event_id, target_system, entity, op, person_id, target_record_id,
	reference_source, payload, source_time, kafka_topic, kafka_partition, kafka_offset)
VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10, $11, $12)
ON CONFLICT (event_id) DO NOTHING`, in.table)
	var rows pgx.Batch
	for _, d := range batch {
		s := d.Record
		p := payload{Set: s.Set, Clear: s.Clear, Gift: s.Gift, Links: s.Links, Reason: s.Reason, HouseholdID: s.HouseholdID}
		doc, err := json.Marshal(p)
		if err != nil {
			return 0, fmt.Errorf("event %s: %w", s.EventID, err)
		}
		var sourceTime *time.Time
		if !s.SourceTime.IsZero() {
			sourceTime = &s.SourceTime
		}
		rows.Queue(insert, s.EventID, s.TargetSystem, string(s.Entity), string(s.Op), s.PersonID, s.TargetRecordID,
			s.ReferenceSource, doc, sourceTime, d.Topic, d.Partition, d.Offset)
	}
	results := tx.SendBatch(ctx, &rows)
	applied := 0
	for range batch {
		tag, err := results.Exec()
		if err != nil {
			_ = results.Close()
			return 0, fmt.Errorf("insert into %s: %w", in.table, err)
		}
		applied += int(tag.RowsAffected())
	}
	if err := results.Close(); err != nil {
		return 0, fmt.Errorf("insert into %s: %w", in.table, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return applied, nil
}

// Pending returns the event ids not yet applied by the system, oldest
// delivery first (for tests and the operator's eye).
func (in *Inbox) Pending(ctx context.Context) ([]string, error) {
	rows, err := in.pool.Query(ctx, fmt.Sprintf(`SELECT event_id FROM %s WHERE applied_at IS NULL ORDER BY delivered_at, kafka_partition, kafka_offset`, in.table))
	if err != nil {
		return nil, fmt.Errorf("pending rows: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

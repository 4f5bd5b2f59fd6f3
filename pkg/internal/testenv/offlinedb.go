package testenv

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OfflineSchema creates the reference offline schema
// (deploy/postgres/offline-schema.sql) in a PostgreSQL schema of its own,
// named with prefix, on the real PostgreSQL (PG_DSN), and returns a pool
// whose search_path is that schema, and the schema's name. The schema is
// dropped when the test ends.
func OfflineSchema(t testing.TB, ctx context.Context, prefix string) (*pgxpool.Pool, string) {
	t.Helper()
	dsn := Postgres(t)
	_, self, _, _ := runtime.Caller(0)
	ddl, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "..", "deploy", "postgres", "offline-schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	schema := Unique(prefix)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal("cannot parse PG_DSN")
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA "+quoted+" CASCADE")
		pool.Close()
	})
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+quoted); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(ddl)); err != nil {
		t.Fatalf("offline-schema.sql: %v", err)
	}
	return pool, schema
}

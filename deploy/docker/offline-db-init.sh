#!/bin/sh
# First start of docker-compose.yml's offline-db (postgres image's
# /docker-entrypoint-initdb.d): the offline schema, a publication for
# Debezium, the debezium role (replication, read-only) and the contactsync
# role the offline applier writes as (rows it writes carry
# updated_by = 'contactsync', so their change events are not synced back).
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /schema/offline-schema.sql
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v debezium_pw="$OFFLINE_DB_DEBEZIUM_PASSWORD" -v apply_pw="$OFFLINE_DB_APPLY_PASSWORD" <<'SQL'
CREATE ROLE debezium WITH LOGIN REPLICATION PASSWORD :'debezium_pw';
GRANT SELECT ON contacts TO debezium;
CREATE PUBLICATION contactsync_offline FOR TABLE contacts;
CREATE ROLE contactsync WITH LOGIN PASSWORD :'apply_pw';
GRANT SELECT, INSERT, UPDATE ON contacts TO contactsync;
GRANT CREATE ON SCHEMA public TO contactsync;
SQL

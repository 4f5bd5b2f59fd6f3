#!/bin/sh
# First start of docker-compose.yml's offline-db (postgres image's
# /docker-entrypoint-initdb.d): the offline schema; the debezium role
# (replication, and owner of the contacts table, which
# publication.autocreate.mode=filtered needs to create its publication:
# see deploy/debezium/offline-contacts.properties); and the contactsync role
# the offline applier writes as (the schema's trigger stamps its rows
# updated_by = 'contactsync', so their change events are not synced back).
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /schema/offline-schema.sql
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v debezium_pw="$OFFLINE_DB_DEBEZIUM_PASSWORD" -v apply_pw="$OFFLINE_DB_APPLY_PASSWORD" <<'SQL'
CREATE ROLE debezium WITH LOGIN REPLICATION PASSWORD :'debezium_pw';
ALTER TABLE contacts OWNER TO debezium;
CREATE ROLE contactsync WITH LOGIN PASSWORD :'apply_pw';
GRANT SELECT, INSERT, UPDATE ON contacts TO contactsync;
GRANT SELECT, INSERT ON gifts TO contactsync;
GRANT CREATE ON SCHEMA public TO contactsync;
SQL

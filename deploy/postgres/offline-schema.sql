-- The offline system of record's contact table as contactsync's Debezium
-- decoder expects it by default. Idempotent: safe to run again.
CREATE TABLE IF NOT EXISTS contacts (
    id               text PRIMARY KEY,
    first_name       text,
    last_name        text,
    organisation     text,
    email            text,
    phone            text,
    address1         text,
    address2         text,
    city             text,
    state            text,
    postcode         text,
    country          text,
    birth_date       date,
    do_not_email     boolean NOT NULL DEFAULT false,
    do_not_mail      boolean NOT NULL DEFAULT false,
    do_not_phone     boolean NOT NULL DEFAULT false,
    giving_total     numeric(12,2),
    last_gift_date   date,
    reference_source text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Who made the row's last change, set by the trigger below on every
    -- write: 'contactsync' when the sync itself wrote it, so the decoder tags
    -- the change as origin=sync and never propagates it back.
    updated_by       text NOT NULL DEFAULT current_user
);

-- The echo marker must describe each write, not stick to the row: a column
-- default applies on INSERT only, so after one sync write every later edit
-- by a person would still read 'contactsync' and be taken for an echo. The
-- trigger overwrites updated_by on every INSERT and UPDATE, whatever the
-- statement set: 'contactsync' when the writing transaction is the sync's
-- (it runs `SET LOCAL contactsync.origin = 'sync'`, or connects as a role
-- named contactsync), else the role that made the change.
CREATE OR REPLACE FUNCTION contacts_stamp_writer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_by := CASE WHEN current_setting('contactsync.origin', true) = 'sync'
                           THEN 'contactsync' ELSE current_user END;
    -- updated_at is when the row was last edited, whoever edited it: the
    -- applier compares it with when the sync decided a change, so that a
    -- row edited since is not overwritten blindly. An update that does not
    -- set it gets the time of the write.
    IF TG_OP = 'UPDATE' AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS contacts_stamp_writer ON contacts;
CREATE TRIGGER contacts_stamp_writer BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_stamp_writer();
-- The before-image on updates lets the decoder tell an explicit clear
-- (value -> NULL) from a value that was never there.
ALTER TABLE contacts REPLICA IDENTITY FULL;

-- Row version for the sync's optimistic concurrency: every update bumps it,
-- whoever makes it, so the applier's conditional write (WHERE row_version =
-- the version it decided against) fails when the row moved under it.
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS row_version bigint NOT NULL DEFAULT 1;
CREATE OR REPLACE FUNCTION contacts_bump_row_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_version := OLD.row_version + 1;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS contacts_bump_row_version ON contacts;
CREATE TRIGGER contacts_bump_row_version BEFORE UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_bump_row_version();

-- The rest of the giving summary the sync reads (offline -> online), kept
-- by the offline system like giving_total and last_gift_date.
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS last_gift_amount    numeric(12,2);
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS highest_gift_amount numeric(12,2);
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS highest_gift_date   date;
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS first_gift_date     date;

-- Gifts of a contact; `contactsync apply` inserts the online systems' gifts
-- here (gift_id is the source system's id, so a redelivery is a no-op).
CREATE TABLE IF NOT EXISTS gifts (
    gift_id          text PRIMARY KEY,
    contact_id       text NOT NULL REFERENCES contacts(id),
    amount           numeric(12,2) NOT NULL,
    currency         text NOT NULL,
    received_at      timestamptz NOT NULL,
    campaign         text,
    fund             text,
    payment_method   text,
    reference_source text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text NOT NULL DEFAULT current_user
);
CREATE INDEX IF NOT EXISTS gifts_contact ON gifts (contact_id, received_at);

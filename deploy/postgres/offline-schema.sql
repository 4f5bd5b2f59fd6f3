-- The offline system of record's contact table as contactsync's Debezium
-- decoder expects it by default (column names are configurable).
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
    -- 'contactsync' when the sync itself wrote the row: lets the decoder tag
    -- the change as origin=sync so it is never propagated back.
    updated_by       text NOT NULL DEFAULT current_user
);
-- The before-image on updates lets the decoder tell an explicit clear
-- (value -> NULL) from a value that was never there.
ALTER TABLE contacts REPLICA IDENTITY FULL;

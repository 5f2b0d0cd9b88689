-- forecourt schema, version 2 (PostgreSQL): the audit log and consent records.

-- who saw or changed what: append-only, each row chained to the one before by a
-- SHA-256 hash, so that any change to a past row breaks the chain.
create table audit_log (
    seq bigint primary key,
    at bigint not null,
    -- user:<id> | pos:<station code> | system
    actor text not null,
    action text not null,
    target_kind text not null,
    target_id text,
    -- the client's address, when known
    source text,
    -- JSON without personal data
    detail text not null,
    prev_hash text not null,
    hash text not null
);

-- the head of the chain: one row, locked by every append so that appends are serial.
create table audit_head (
    id bigint primary key check (id = 1),
    seq bigint not null,
    hash text not null
);
insert into audit_head (id, seq, hash) values (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');


-- settings of the database itself, e.g. the fingerprint of the data key it was written
-- with, so that opening it with another key is refused instead of writing garbage.
create table setting (
    name text primary key,
    value text not null
);

-- consent records (PIPL): what was consented to, when, how, and when withdrawn.
create table consent (
    consent_id text primary key,
    customer_id text not null references customer (customer_id),
    -- marketing | sensitive (ID number, location history) | data_transfer | …
    purpose text not null,
    -- counter | app | paper | phone | import
    channel text not null,
    granted_at bigint not null,
    withdrawn_at bigint,
    recorded_by text,
    created_at bigint not null
);
create index consent_customer on consent (customer_id, purpose);

-- append-only, enforced by the database itself.
create function audit_log_append_only() returns trigger language plpgsql as $$ begin raise exception 'the audit log is append-only'; end $$;
create trigger audit_log_no_change before update or delete on audit_log for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function audit_log_append_only();

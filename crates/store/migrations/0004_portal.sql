-- The member portal (`/m/`): members sign in with a card and its PIN, or with their
-- phone and a portal password, and get a session of their own. Portable SQL for SQLite
-- and PostgreSQL.

-- a member's portal password (argon2id, like staff passwords) and its lockout. A
-- member without a row signs in with a card and its PIN only.
create table member_credential (
    customer_id text primary key references customer (customer_id),
    password_hash text not null,
    -- wrong passwords since the last good one; the credential locks at the limit
    failed_logins bigint not null default 0,
    locked_until bigint,
    created_at bigint not null,
    updated_at bigint not null
);

-- portal sessions, stored as SHA-256 of the cookie's token (never the token itself).
create table member_session (
    token_hash text primary key,
    customer_id text not null references customer (customer_id),
    created_at bigint not null,
    -- absolute expiry
    expires_at bigint not null,
    -- for the idle timeout
    last_seen_at bigint not null,
    revoked_at bigint
);
create index member_session_customer on member_session (customer_id);

-- a member's points history joins each movement's journal to its sale (the portal and
-- the console's points both read it); without this index every line scanned the sales.
create index sale_journal on sale (journal_id);

-- sales in time order across the network (the sales export, and with it the analytics
-- that read every sale) page through this index instead of sorting every sale per page.
create index sale_time on sale (occurred_at, sale_id);

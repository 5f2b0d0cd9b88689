-- The job runner and the notification outbox: background work and outgoing messages
-- are rows written in the same transaction as the change that causes them, and a
-- worker claims them with a lease. Portable SQL for SQLite and PostgreSQL.

-- a unit of background work, run by the handler registered for its kind.
create table job (
    job_id text primary key,
    kind text not null,
    -- JSON, read by the kind's handler
    payload text not null,
    -- enqueuing the same key twice is a no-op (null: no idempotency wanted)
    unique_key text unique,
    -- queued | running | done | dead
    state text not null,
    -- not claimed before this moment (µs)
    run_at bigint not null,
    attempts bigint not null default 0,
    max_attempts bigint not null,
    -- set by each claim; only the holder of the current token may finish the job, and
    -- a lease that ran out (the worker died) makes the job claimable again
    lease_token text,
    locked_until bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null,
    finished_at bigint
);
create index job_due on job (state, run_at);

-- an outgoing message. `message_id` is made at insert and never changes: it is the
-- email's Message-ID and the SMS gateway's id, so that a resend after a crash can be
-- recognised by the far side.
create table message (
    message_id text primary key,
    -- email | sms | inbox
    channel text not null,
    -- whom it is for: a customer id, `staff:{user_id}` for staff, or `address:{address}`
    recipient text not null,
    -- the customer, when the recipient is one (their in-app inbox, their data)
    customer_id text references customer (customer_id),
    -- the email address or phone number, sealed like all personal data; null for inbox
    address_enc text,
    subject_enc text,
    body_enc text not null,
    -- what caused it, e.g. `ticket:ID:escalation:2`; one message per cause, recipient
    -- and channel
    cause text not null,
    -- queued | sending | sent | failed | dead (failed: waiting for its next attempt)
    state text not null,
    attempts bigint not null default 0,
    max_attempts bigint not null,
    next_attempt_at bigint not null,
    lease_token text,
    locked_until bigint,
    last_error text,
    -- what the SMTP server or gateway answered with, when it names the message
    provider_id text,
    sent_at bigint,
    -- inbox messages: when the member read it
    read_at bigint,
    created_at bigint not null,
    unique (cause, recipient, channel)
);
create index message_due on message (state, next_attempt_at);
create index message_inbox on message (customer_id, channel, created_at);

-- Marketing (SPEC F7): segments, campaigns with their targeted members and hold-out
-- groups, the do-not-contact list, and what the contact rules need on each message.
-- Portable SQL for SQLite and PostgreSQL.

-- marketing | transactional: only marketing messages count against the frequency caps
-- and wait out the quiet hours.
alter table message add column kind text not null default 'transactional';
-- a message not delivered by then is dropped (state `suppressed`, reason `expired`)
alter table message add column expires_at bigint;
create index message_contact on message (customer_id, channel, kind, created_at);

-- members who must not be contacted on a channel, and why.
create table do_not_contact (
    customer_id text not null references customer (customer_id),
    -- email | sms | inbox
    channel text not null,
    -- unsubscribed | bounced | complained | manual
    reason text not null,
    -- who recorded it: `member` (the unsubscribe link), `user:NAME`, `gateway`
    recorded_by text not null,
    created_at bigint not null,
    primary key (customer_id, channel)
);

-- a message that was not sent, and why (no_consent, do_not_contact, frequency_cap,
-- expired, no_address, anonymized); one per cause, recipient and channel.
create table message_suppression (
    cause text not null,
    customer_id text not null,
    channel text not null,
    reason text not null,
    created_at bigint not null,
    primary key (cause, customer_id, channel)
);

-- a saved filter over the members (the filter is JSON, see forecourt_app::segments).
create table segment (
    segment_id text primary key,
    name text not null,
    filter text not null,
    -- the creator's data scope: a station-scoped segment holds that station's members
    scope text not null,
    created_by text not null,
    created_at bigint not null
);

create table campaign (
    campaign_id text primary key,
    name text not null,
    segment_id text not null references segment (segment_id),
    holdout_percent bigint not null,
    -- email | sms | inbox
    channel text not null,
    -- the template, with {name} and {offer}
    message text not null,
    -- JSON: {coupon_template_id? | bonus_points? | multiplier_permille?, until?}
    offer text,
    send_at bigint,
    attribution_days bigint not null,
    -- draft | launched
    state text not null,
    scope text not null,
    created_by text not null,
    created_at bigint not null,
    launched_at bigint,
    launched_by text
);

-- the members a campaign targeted when it was launched, and what happened to each.
create table campaign_member (
    campaign_id text not null references campaign (campaign_id),
    customer_id text not null references customer (customer_id),
    -- treated | holdout | global_holdout
    grp text not null,
    -- queued (a message is in the outbox) | held_out | a suppression reason
    outcome text not null,
    message_id text,
    primary key (campaign_id, customer_id)
);

-- a member's email address for the email channel, sealed like all personal data.
alter table customer add column email_enc text;

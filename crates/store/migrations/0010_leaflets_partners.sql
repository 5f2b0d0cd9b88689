-- Leaflets and promo codes, partner merchants (SPEC F7, issue 17 items 5-6). Portable
-- SQL for SQLite and PostgreSQL.

-- a leaflet drop: how many were handed out, where, when, at what printing cost, and
-- an optional coupon each sign-up receives
create table leaflet_batch (
    batch_id text primary key,
    name text not null,
    -- the day the leaflets were handed out, YYYY-MM-DD in the network's time zone
    dropped_on text not null,
    quantity bigint not null check (quantity > 0),
    cost_fen bigint not null check (cost_fen >= 0),
    coupon_template_id text references coupon_template (template_id),
    -- unique: one single-use code per leaflet | public: one code printed on all
    code_kind text not null,
    created_by text not null,
    created_at bigint not null
);

create table leaflet_batch_station (
    batch_id text not null references leaflet_batch (batch_id),
    station_id text not null references station (station_id),
    primary key (batch_id, station_id)
);
create index leaflet_batch_station_station on leaflet_batch_station (station_id);

-- every code of every batch (a public code is one row, never spent). A unique code is
-- spent by one conditional update (`customer_id is null`) in the transaction that
-- registers the customer, so of two parallel sign-ups with it exactly one succeeds.
create table leaflet_code (
    code text primary key,
    batch_id text not null references leaflet_batch (batch_id),
    public bigint not null default 0,
    customer_id text references customer (customer_id),
    used_at bigint
);
create index leaflet_code_batch on leaflet_code (batch_id);

-- a customer who signed up with a leaflet code (at most one code per customer)
create table leaflet_signup (
    customer_id text primary key references customer (customer_id),
    batch_id text not null references leaflet_batch (batch_id),
    code text not null references leaflet_code (code),
    signed_up_at bigint not null
);
create index leaflet_signup_batch on leaflet_signup (batch_id);

-- a partner merchant (商户联盟). Its API key is stored as its SHA-256; the contact is
-- sealed like all personal data.
create table partner (
    partner_id text primary key,
    name text not null,
    -- insurance | car_wash | restaurant | repair | retail | other
    category text not null,
    contact_enc text,
    active bigint not null default 1,
    key_hash text unique,
    created_at bigint not null
);

-- an offer of a partner to members
create table partner_offer (
    offer_id text primary key,
    partner_id text not null references partner (partner_id),
    title text not null,
    description text not null,
    -- YYYY-MM-DD, both days included, in the network's time zone
    valid_from text not null,
    valid_until text not null,
    per_member_limit bigint not null check (per_member_limit > 0),
    -- JSON list of tier codes; empty: every member holding a usable card
    tiers text not null default '[]',
    active bigint not null default 1,
    created_at bigint not null
);
create index partner_offer_partner on partner_offer (partner_id);

-- a member's claim of an offer: a redemption code the partner redeems once
create table partner_claim (
    claim_id text primary key,
    offer_id text not null references partner_offer (offer_id),
    partner_id text not null references partner (partner_id),
    customer_id text not null references customer (customer_id),
    code text not null unique,
    -- claimed | redeemed
    state text not null,
    claimed_at bigint not null,
    expires_at bigint not null,
    redeemed_at bigint
);
create index partner_claim_customer on partner_claim (customer_id, offer_id);
create index partner_claim_partner on partner_claim (partner_id, redeemed_at);

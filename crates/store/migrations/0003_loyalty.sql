-- The loyalty engine (SPEC F5): versioned points rules, the explanation of every sale's
-- points, points lots for FIFO use and expiry, tier qualification, coupon templates,
-- the redemption catalogue and referrals. Portable SQL for SQLite and PostgreSQL.

-- points rules. A rule is never edited in place: a change adds a version, and the newest
-- version of each rule is in force while it is active.
create table loyalty_rule (
    rule_id text not null,
    version bigint not null,
    -- earn | bonus | milestone
    kind text not null,
    name text not null,
    -- the rule as JSON (forecourt_core::loyalty)
    body text not null,
    active bigint not null,
    created_by text,
    created_at bigint not null,
    primary key (rule_id, version)
);

-- loyalty settings as JSON values: expiry policy, tier qualification, referral rewards.
create table loyalty_setting (
    setting_key text primary key,
    setting_value text not null,
    updated_at bigint not null
);

-- why a sale earned its points: a JSON list with one line per rule version that gave
-- points ({rule_id, version, kind: base | tier | bonus | milestone | referral, points,
-- reason}); the lines add up to points_earned (checked by `check`).
alter table sale add column points_detail text not null default '[]';

-- what each capped bonus rule gave a member on a local day, for caps per day and month.
create table points_cap (
    customer_id text not null references customer (customer_id),
    rule_id text not null,
    -- local date YYYY-MM-DD
    day text not null,
    points bigint not null,
    primary key (customer_id, rule_id, day)
);

-- points lots: what a member earned on one local day and what is left of it. Points
-- are used first-in first-out and expire by lot; the sum of a member's remaining
-- points equals the balance of the member's points account (checked by `check`).
create table points_lot (
    customer_id text not null references customer (customer_id),
    -- local date YYYY-MM-DD
    earned_on text not null,
    points bigint not null,
    remaining bigint not null check (remaining >= 0),
    expired bigint not null default 0,
    primary key (customer_id, earned_on)
);

-- tier qualification over a rolling window, and a monthly car wash as a benefit.
alter table tier add column qualify_litres_ml bigint not null default 0;
alter table tier add column qualify_visits bigint not null default 0;
alter table tier add column monthly_car_washes bigint not null default 0;

-- a tier set by hand (with its reason), the start of a downgrade's grace period, and
-- who referred the member.
alter table customer add column tier_override text;
alter table customer add column tier_override_reason text;
alter table customer add column tier_below_since bigint;
alter table customer add column referred_by text;
alter table customer add column referral_rewarded_at bigint;

-- coupon templates: what a coupon takes off and when it applies.
create table coupon_template (
    template_id text primary key,
    name text not null,
    -- amount_off (fen) | per_litre_off (fen per litre) | percent_off_non_fuel (percent)
    -- | free_car_wash (one wash)
    kind text not null,
    coupon_value bigint not null check (coupon_value > 0),
    min_amount_fen bigint not null default 0,
    -- JSON list of product codes the coupon applies to; empty: any that fits its kind
    products text not null default '[]',
    valid_days bigint not null check (valid_days > 0),
    active bigint not null default 1,
    created_at bigint not null
);

-- coupons from templates are applied by the quote and redeemed by the sale; coupons
-- without a template are vouchers taken as a payment.
alter table coupon add column template_id text references coupon_template (template_id);
-- payment | amount_off | per_litre_off | percent_off_non_fuel | free_car_wash
alter table coupon add column kind text not null default 'payment';
create index coupon_customer on coupon (customer_id, state);

-- the redemption catalogue.
create table catalogue_item (
    item_id text primary key,
    name text not null,
    -- gift | coupon | car_wash
    kind text not null,
    points_cost bigint not null check (points_cost > 0),
    -- null: unlimited
    stock bigint check (stock >= 0),
    template_id text references coupon_template (template_id),
    active bigint not null default 1,
    created_at bigint not null
);

create table redemption (
    redemption_id text primary key,
    idempotency_key text not null unique,
    item_id text not null references catalogue_item (item_id),
    customer_id text not null references customer (customer_id),
    points bigint not null,
    -- redeemed | cancelled
    state text not null,
    journal_id text not null references journal (journal_id),
    cancel_journal_id text references journal (journal_id),
    coupon_code text,
    -- the lots the points came from, JSON [[earned_on, points], …], restored on cancel
    takes text not null,
    created_by text,
    created_at bigint not null,
    cancelled_at bigint
);
create index redemption_customer on redemption (customer_id, created_at);

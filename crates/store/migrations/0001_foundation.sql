-- forecourt schema, version 1: network, customers, cards, ledger, POS records, staff.
--
-- Portable subset: only BIGINT, TEXT and DOUBLE PRECISION columns, text ids (UUIDv7,
-- time-ordered), times as BIGINT microseconds since the Unix epoch in UTC, money in fen,
-- volume in millilitres. The same text runs on SQLite and PostgreSQL; a statement that
-- must differ goes in a backend-specific migration.

-- regions (片区) group stations under the company.
create table region (
    region_id text primary key,
    code text not null unique,
    name text not null,
    -- the province as its licence-plate character (京, 粤, …), for card rules
    province text,
    created_at bigint not null
);

-- stations (油站).
create table station (
    station_id text primary key,
    code text not null unique,
    name text not null,
    region_id text references region (region_id),
    address text,
    lat double precision,
    lon double precision,
    time_zone text not null default 'Asia/Shanghai',
    province text,
    opening_hours text,
    created_at bigint not null
);

-- products: fuel grades, EV charging, services, and non-fuel items by category.
create table product (
    product_id text primary key,
    code text not null unique,
    name text not null,
    -- fuel | ev | service | non_fuel
    kind text not null,
    category text,
    created_at bigint not null
);

-- station price lists with effective-from times; rows are never updated, so the
-- history of every adjustment is kept.
create table price (
    price_id text primary key,
    station_id text not null references station (station_id),
    product_id text not null references product (product_id),
    unit_price_fen bigint not null check (unit_price_fen > 0),
    effective_from bigint not null,
    created_at bigint not null
);
create index price_station_product on price (station_id, product_id, effective_from);

-- membership tiers (普通 / VIP / SVIP by default).
create table tier (
    code text primary key,
    name text not null,
    rank bigint not null,
    discount_fen_per_litre bigint not null default 0,
    points_multiplier_permille bigint not null default 1000,
    qualify_spend_fen bigint not null default 0,
    created_at bigint not null
);

-- customers: individuals and companies. Personal data is stored encrypted (`*_enc`:
-- XChaCha20-Poly1305 under a versioned data key) and found through keyed blind indexes
-- (`*_idx`: HMAC-SHA256), so that a copy of the database shows no name, phone, ID
-- number, address or plate.
create table customer (
    customer_id text primary key,
    member_code text not null unique,
    -- individual | company
    kind text not null,
    name_enc text not null,
    name_idx text not null,
    phone_enc text,
    phone_idx text,
    id_number_enc text,
    id_number_idx text,
    address_enc text,
    industry text,
    birthday text,
    occupation text,
    home_station_id text references station (station_id),
    -- walk_in | leaflet | referral | partner | census | other
    source text,
    source_code text,
    tier_code text not null references tier (code),
    consent_marketing bigint not null default 0,
    consent_sensitive bigint not null default 0,
    tags text not null default '[]',
    notes text,
    -- the account manager who owns this customer (scope "own")
    account_manager_id text,
    anonymized_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index customer_phone on customer (phone_idx);
create index customer_name on customer (name_idx);
create index customer_id_number on customer (id_number_idx);

-- contacts of a company customer.
create table contact (
    contact_id text primary key,
    customer_id text not null references customer (customer_id),
    name_enc text not null,
    phone_enc text,
    phone_idx text,
    role text,
    created_at bigint not null
);
create index contact_customer on contact (customer_id);
create index contact_phone on contact (phone_idx);

-- vehicles of a customer.
create table vehicle (
    vehicle_id text primary key,
    customer_id text not null references customer (customer_id),
    plate_enc text not null,
    plate_idx text not null,
    model text,
    colour text,
    fuel_type text,
    tank_capacity_ml bigint,
    created_at bigint not null
);
create index vehicle_plate on vehicle (plate_idx);
create index vehicle_customer on vehicle (customer_id);

-- fuel cards. A fleet sub-card names its main card; in the main card's pool mode the
-- sub-card spends the main card's balance, in allocated mode its own.
create table card (
    card_id text primary key,
    card_no text not null unique,
    -- personal | company | fleet_main | fleet_sub | anonymous
    kind text not null,
    -- active | frozen | lost | cancelled | replaced
    state text not null,
    customer_id text references customer (customer_id),
    main_card_id text references card (card_id),
    -- pool | allocated (fleet main cards)
    balance_mode text not null default 'pool',
    -- the most the card may hold; null when capped by contract only
    cap_fen bigint,
    -- card rules (limits) as JSON; a bound plate is stored encrypted inside it
    rules text not null default '{}',
    -- HMAC-SHA256 of the PIN under the server secret, hex; null when no PIN
    pin_hash text,
    pin_failures bigint not null default 0,
    replaced_by_card_id text references card (card_id),
    -- the station that issued the card (the scope of an anonymous card)
    issued_station_id text references station (station_id),
    -- bumped by every write that must serialise on the card (it takes the row lock)
    lock_version bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index card_customer on card (customer_id);
create index card_main on card (main_card_id);

-- ledger accounts. Customer-facing accounts (cards, points, credit) carry cached totals
-- that conditional updates keep within their policy; house accounts (tenders, revenue,
-- expenses) are derived from the transfers only, so that no hot row serialises sales.
create table account (
    account_id text primary key,
    -- fen | points
    unit text not null,
    -- no_overdraft | credit_limit | unrestricted
    policy text not null,
    credit_limit bigint not null default 0,
    debits_posted bigint not null default 0,
    credits_posted bigint not null default 0,
    debits_pending bigint not null default 0,
    credits_pending bigint not null default 0,
    created_at bigint not null
);

-- journal entries: one per business event (sale, recharge, refund, hold, …). The
-- idempotency key makes a second posting of the same event impossible.
create table journal (
    journal_id text primary key,
    idempotency_key text not null unique,
    -- sale | recharge | bonus | refund | reversal | allocation | points_earn |
    -- points_redeem | points_expire | adjustment | hold | release
    kind text not null,
    station_id text references station (station_id),
    occurred_at bigint not null,
    memo text,
    created_at bigint not null
);

-- transfers: the balanced lines of the ledger; append-only except for the state of a
-- pending transfer (a hold), which moves once from pending to released.
create table transfer (
    transfer_id text primary key,
    journal_id text not null references journal (journal_id),
    debit_account_id text not null references account (account_id),
    credit_account_id text not null references account (account_id),
    amount bigint not null check (amount > 0),
    unit text not null,
    -- posted | pending | released
    state text not null,
    kind text not null,
    created_at bigint not null
);
create index transfer_journal on transfer (journal_id);
create index transfer_debit on transfer (debit_account_id);
create index transfer_credit on transfer (credit_account_id);

-- sales posted by the POS (and anonymous walk-in sales).
create table sale (
    sale_id text primary key,
    station_id text not null references station (station_id),
    pos_txn_id text not null,
    journal_id text not null references journal (journal_id),
    customer_id text references customer (customer_id),
    card_id text references card (card_id),
    occurred_at bigint not null,
    gross_fen bigint not null,
    discount_fen bigint not null,
    net_fen bigint not null,
    points_earned bigint not null,
    tier_code text,
    authorization_id text,
    -- soft rule breaches and anomaly flags, JSON
    flags text not null default '[]',
    refunded_fen bigint not null default 0,
    points_reversed bigint not null default 0,
    -- none | requested | issued (invoices follow consumption)
    invoice_state text not null default 'none',
    created_at bigint not null,
    unique (station_id, pos_txn_id)
);
create index sale_customer on sale (customer_id, occurred_at);
create index sale_card on sale (card_id, occurred_at);
create index sale_station_time on sale (station_id, occurred_at);

create table sale_line (
    sale_id text not null references sale (sale_id),
    line_no bigint not null,
    product_code text not null,
    kind text not null,
    category text,
    volume_ml bigint not null,
    quantity bigint not null,
    unit_price_fen bigint not null,
    gross_fen bigint not null,
    discount_fen bigint not null,
    net_fen bigint not null,
    refunded_fen bigint not null default 0,
    pump_no bigint,
    primary key (sale_id, line_no)
);

create table sale_payment (
    sale_id text not null references sale (sale_id),
    payment_no bigint not null,
    -- card | cash | wechat | alipay | bank_card | credit | coupon
    method text not null,
    amount_fen bigint not null,
    -- the card presented, and the card whose balance paid (its main card when pooled)
    card_id text references card (card_id),
    funding_card_id text references card (card_id),
    coupon_code text,
    from_paid_fen bigint not null default 0,
    from_bonus_fen bigint not null default 0,
    refunded_fen bigint not null default 0,
    primary key (sale_id, payment_no)
);

-- what each card used, for daily and monthly limits; refunds add negative rows.
create table card_usage (
    card_id text not null references card (card_id),
    occurred_at bigint not null,
    sales bigint not null,
    amount_fen bigint not null,
    volume_ml bigint not null,
    ref_id text not null
);
create index card_usage_card_time on card_usage (card_id, occurred_at);

-- recharge promotions: top up at least min_amount_fen, get bonus_fen.
create table recharge_promotion (
    promotion_id text primary key,
    name text not null,
    min_amount_fen bigint not null check (min_amount_fen > 0),
    bonus_fen bigint not null check (bonus_fen >= 0),
    valid_from bigint not null,
    valid_until bigint,
    created_at bigint not null
);

create table recharge (
    recharge_id text primary key,
    station_id text not null references station (station_id),
    pos_txn_id text not null,
    journal_id text not null references journal (journal_id),
    card_id text not null references card (card_id),
    amount_fen bigint not null,
    bonus_fen bigint not null,
    promotion_id text references recharge_promotion (promotion_id),
    occurred_at bigint not null,
    created_at bigint not null
);
create index recharge_card on recharge (card_id, occurred_at);

create table refund (
    refund_id text primary key,
    sale_id text not null references sale (sale_id),
    station_id text not null references station (station_id),
    pos_txn_id text not null,
    journal_id text not null references journal (journal_id),
    amount_fen bigint not null,
    points_reversed bigint not null,
    -- points that could not be clawed back because they were already spent
    points_shortfall bigint not null default 0,
    occurred_at bigint not null,
    created_at bigint not null
);
create index refund_sale on refund (sale_id);

-- pump pre-authorisations (two-phase holds).
create table authorization_hold (
    authorization_id text primary key,
    station_id text not null references station (station_id),
    pos_txn_id text not null,
    journal_id text not null references journal (journal_id),
    card_id text not null references card (card_id),
    pump_no bigint,
    held_fen bigint not null,
    -- pending | captured | voided | expired
    state text not null,
    expires_at bigint not null,
    sale_id text,
    created_at bigint not null
);
create index authorization_pending on authorization_hold (state, expires_at);

-- coupons that the POS may take as payment.
create table coupon (
    coupon_id text primary key,
    code text not null unique,
    customer_id text references customer (customer_id),
    amount_fen bigint not null check (amount_fen > 0),
    valid_from bigint not null,
    valid_until bigint,
    -- issued | redeemed | void
    state text not null,
    sale_id text,
    created_at bigint not null
);

-- credit (挂账) agreements: limit and billing day of on-account customers.
create table credit_agreement (
    customer_id text primary key references customer (customer_id),
    credit_limit_fen bigint not null check (credit_limit_fen >= 0),
    billing_day bigint not null default 1,
    created_at bigint not null,
    updated_at bigint not null
);

-- every POS request that succeeded, with the response it got, so that a repeat of the
-- same pos_txn_id replays it.
create table pos_request (
    station_id text not null references station (station_id),
    pos_txn_id text not null,
    kind text not null,
    request_hash text not null,
    status bigint not null,
    response text not null,
    created_at bigint not null,
    primary key (station_id, pos_txn_id)
);

-- staff users.
create table staff_user (
    user_id text primary key,
    username text not null unique,
    password_hash text not null,
    -- admin | analyst | region_manager | station_manager | account_manager | cashier
    role text not null,
    -- company | region:CODE | station:CODE | own
    scope text not null default 'company',
    failed_logins bigint not null default 0,
    locked_until bigint,
    disabled bigint not null default 0,
    created_at bigint not null
);

-- API bearer tokens of staff, stored as SHA-256 of the token.
create table staff_session (
    token_hash text primary key,
    user_id text not null references staff_user (user_id),
    created_at bigint not null,
    -- absolute expiry
    expires_at bigint not null,
    -- for the idle timeout
    last_seen_at bigint not null,
    revoked_at bigint
);

-- POS tokens, one or more per station, stored as SHA-256 of the token.
create table pos_token (
    token_hash text primary key,
    station_id text not null references station (station_id),
    label text,
    created_at bigint not null,
    revoked_at bigint
);

-- manual balance or points adjustments: one person asks (maker), another approves
-- (checker); only an approved adjustment is posted to the ledger.
create table adjustment (
    adjustment_id text primary key,
    -- card (money, paid balance) | points (a customer's points)
    target text not null,
    card_id text references card (card_id),
    customer_id text references customer (customer_id),
    -- positive adds, negative takes away
    amount bigint not null check (amount <> 0),
    reason text not null,
    maker_user_id text not null references staff_user (user_id),
    checker_user_id text references staff_user (user_id),
    -- pending | approved | rejected
    state text not null,
    journal_id text references journal (journal_id),
    created_at bigint not null,
    decided_at bigint
);
create index adjustment_state on adjustment (state, created_at);

-- money received from credit (挂账) customers against their statements.
create table credit_payment (
    credit_payment_id text primary key,
    customer_id text not null references customer (customer_id),
    journal_id text not null references journal (journal_id),
    method text not null,
    amount_fen bigint not null check (amount_fen > 0),
    reference text,
    received_at bigint not null,
    user_id text references staff_user (user_id),
    created_at bigint not null
);
create index credit_payment_customer on credit_payment (customer_id, received_at);

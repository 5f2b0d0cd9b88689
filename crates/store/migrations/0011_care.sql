-- Care automations (关怀, issue 17 part 4): what each automation sends, on which
-- channel, and whether it runs. The messages themselves are outbox messages whose
-- cause names the automation and its period (`care:birthday:2026`), so a second run
-- of a day sends nothing twice. Portable SQL for SQLite and PostgreSQL.
create table care_automation (
    -- birthday | refuel_reminder | first_visit | low_balance | win_back | tier_change |
    -- coupon_expiring
    kind text primary key,
    enabled bigint not null,
    -- inbox | sms
    channel text not null,
    -- the text, with {name} and {detail}
    message text not null,
    -- low_balance: fen; win_back: churn risk in per mille; coupon_expiring: days
    threshold bigint,
    updated_by text,
    updated_at bigint not null
);

insert into care_automation (kind, enabled, channel, message, threshold, updated_at) values
    ('birthday', 1, 'inbox', '{name}，祝您生日快乐！感谢您一直以来的支持，一路平安。', null, 0),
    ('refuel_reminder', 1, 'inbox', '{name}，按您的加油习惯，{detail}该加油了，欢迎光临。', null, 0),
    ('first_visit', 1, 'inbox', '{name}，感谢您首次光临，期待再次为您服务。', null, 0),
    ('low_balance', 1, 'inbox', '{name}，您的加油卡{detail}，请及时充值。', 10000, 0),
    ('win_back', 1, 'inbox', '{name}，好久不见，我们想念您！欢迎回来加油。', 700, 0),
    ('tier_change', 1, 'inbox', '{name}，您的会员等级已变更为{detail}。', null, 0),
    ('coupon_expiring', 1, 'inbox', '{name}，您的优惠券{detail}，请尽快使用。', 3, 0);

-- the tier each member had when the tier-change automation last looked: a change is a
-- difference from it (the first look records without sending).
create table care_tier_seen (
    customer_id text primary key references customer (customer_id),
    tier_code text not null,
    seen_at bigint not null
);

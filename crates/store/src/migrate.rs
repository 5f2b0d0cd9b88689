//! Forward-only migrations, recorded in `schema_migration`, and the default data every
//! database starts with (products, tiers, house accounts).

use crate::{now_us, Backend, Store, StoreError};
use sqlx::Executor;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/0001_foundation.sql"),
        postgres: include_str!("../migrations/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "audit",
        sqlite: include_str!("../migrations/0002_audit_sqlite.sql"),
        postgres: include_str!("../migrations/0002_audit_postgres.sql"),
    },
    Migration {
        version: 3,
        name: "loyalty",
        sqlite: include_str!("../migrations/0003_loyalty.sql"),
        postgres: include_str!("../migrations/0003_loyalty.sql"),
    },
    Migration {
        version: 4,
        name: "portal",
        sqlite: include_str!("../migrations/0004_portal.sql"),
        postgres: include_str!("../migrations/0004_portal.sql"),
    },
    Migration {
        version: 5,
        name: "outbox",
        sqlite: include_str!("../migrations/0005_outbox.sql"),
        postgres: include_str!("../migrations/0005_outbox.sql"),
    },
    Migration {
        version: 6,
        name: "service_desk",
        sqlite: include_str!("../migrations/0006_service_desk.sql"),
        postgres: include_str!("../migrations/0006_service_desk.sql"),
    },
    Migration {
        version: 7,
        name: "surveys",
        sqlite: include_str!("../migrations/0007_surveys.sql"),
        postgres: include_str!("../migrations/0007_surveys.sql"),
    },
    Migration {
        version: 8,
        name: "member_tickets",
        sqlite: include_str!("../migrations/0008_member_tickets.sql"),
        postgres: include_str!("../migrations/0008_member_tickets.sql"),
    },
    Migration {
        version: 9,
        name: "marketing",
        sqlite: include_str!("../migrations/0009_marketing.sql"),
        postgres: include_str!("../migrations/0009_marketing.sql"),
    },
    Migration {
        version: 10,
        name: "leaflets_partners",
        sqlite: include_str!("../migrations/0010_leaflets_partners.sql"),
        postgres: include_str!("../migrations/0010_leaflets_partners.sql"),
    },
    Migration {
        version: 11,
        name: "care",
        sqlite: include_str!("../migrations/0011_care.sql"),
        postgres: include_str!("../migrations/0011_care.sql"),
    },
];

/// The schema version this binary knows: the highest of [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 11;

/// Default products of the POS contract: code, name, kind.
const PRODUCTS: &[(&str, &str, &str)] = &[
    ("GASOLINE_92", "92# 汽油", "fuel"),
    ("GASOLINE_95", "95# 汽油", "fuel"),
    ("GASOLINE_98", "98# 汽油", "fuel"),
    ("DIESEL_0", "0# 柴油", "fuel"),
    ("DIESEL_M10", "-10# 柴油", "fuel"),
    ("LNG", "LNG 液化天然气", "fuel"),
    ("CNG", "CNG 压缩天然气", "fuel"),
    ("EV_CHARGE", "电动汽车充电", "ev"),
    ("CAR_WASH", "洗车", "service"),
];

/// Default tiers: code, name, rank, discount fen per litre, points multiplier ‰,
/// qualifying spend over the rolling window in fen, free car washes a month.
const TIERS: &[(&str, &str, i64, i64, i64, i64, i64)] = &[
    ("standard", "普通", 0, 0, 1000, 0, 0),
    ("vip", "VIP", 1, 5, 1200, 500_000, 0),
    ("svip", "SVIP", 2, 10, 1500, 2_000_000, 1),
];

/// House accounts: name, unit.
pub(crate) const HOUSE_ACCOUNTS: &[(&str, &str)] = &[
    ("tender:cash", "fen"),
    ("tender:wechat", "fen"),
    ("tender:alipay", "fen"),
    ("tender:bank_card", "fen"),
    (forecourt_core::ledger::account::SALES_REVENUE, "fen"),
    (
        forecourt_core::ledger::account::RECHARGE_BONUS_EXPENSE,
        "fen",
    ),
    (forecourt_core::ledger::account::COUPON_EXPENSE, "fen"),
    (forecourt_core::ledger::account::HOLDS, "fen"),
    (forecourt_core::ledger::account::ADJUSTMENT, "fen"),
    (forecourt_core::ledger::account::POINTS_ISSUED, "points"),
    (forecourt_core::ledger::account::POINTS_REDEEMED, "points"),
    (forecourt_core::ledger::account::POINTS_EXPIRED, "points"),
    ("equity:points_adjustment", "points"),
];

fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(";\n").filter_map(|chunk| {
        let body: String = chunk
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let body = body.trim();
        (!body.is_empty()).then(|| body.to_string())
    })
}

impl Store {
    /// Applies every migration not yet applied, then the default data.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.write.acquire().await?;
        conn.execute(
            "create table if not exists schema_migration (version bigint primary key, name text not null, applied_at bigint not null)",
        )
        .await?;
        // Every applied version, not only the highest: migrations written on parallel
        // branches get numbers in the order they were started but may be merged in
        // another, and a database migrated with 6 must still receive 5 when it arrives.
        let applied: Vec<i64> = sqlx::query_scalar("select version from schema_migration")
            .fetch_all(&mut *conn)
            .await?;
        if let Some(&found) = applied.iter().max() {
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found,
                    known: SCHEMA_VERSION,
                });
            }
        }
        drop(conn);
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            let mut tx = self.write.begin().await?;
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            for stmt in statements(sql) {
                tx.execute(stmt.as_str()).await?;
            }
            sqlx::query(
                "insert into schema_migration (version, name, applied_at) values ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
        }
        self.seed_defaults().await
    }

    /// Built-in rows have fixed ids and `created_at` 0 (they belong to the schema, not to
    /// a moment), so that every database holds them identically: two databases can be
    /// compared row for row, or merged, without their products clashing.
    async fn seed_defaults(&self) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let now = 0i64;
        for (code, name, kind) in PRODUCTS {
            sqlx::query(
                "insert into product (product_id, code, name, kind, category, created_at) values ($1, $2, $3, $4, null, $5) on conflict (code) do nothing",
            )
            .bind(format!("product-{}", code.to_ascii_lowercase()))
            .bind(*code)
            .bind(*name)
            .bind(*kind)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for (code, name, rank, discount, mult, spend, washes) in TIERS {
            sqlx::query(
                "insert into tier (code, name, rank, discount_fen_per_litre, points_multiplier_permille, qualify_spend_fen, monthly_car_washes, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (code) do nothing",
            )
            .bind(*code)
            .bind(*name)
            .bind(*rank)
            .bind(*discount)
            .bind(*mult)
            .bind(*spend)
            .bind(*washes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for (name, unit) in HOUSE_ACCOUNTS {
            sqlx::query(
                "insert into account (account_id, unit, policy, created_at) values ($1, $2, 'unrestricted', $3) on conflict (account_id) do nothing",
            )
            .bind(*name)
            .bind(*unit)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // The default points rule and loyalty settings.
        let base = forecourt_core::loyalty::EarnRule::default_rule();
        sqlx::query(
            "insert into loyalty_rule (rule_id, version, kind, name, body, active, created_by, created_at) values ($1, $2, 'earn', $3, $4, 1, null, $5) on conflict (rule_id, version) do nothing",
        )
        .bind(&base.id)
        .bind(base.version)
        .bind("1 point per whole yuan")
        .bind(serde_json::to_string(&base)?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (key, value) in crate::loyalty::DEFAULT_SETTINGS {
            sqlx::query(
                "insert into loyalty_setting (setting_key, setting_value, updated_at) values ($1, $2, $3) on conflict (setting_key) do nothing",
            )
            .bind(*key)
            .bind(*value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // The template of the tiers' monthly free car wash.
        sqlx::query(
            "insert into coupon_template (template_id, name, kind, coupon_value, min_amount_fen, products, valid_days, active, created_at) values ('tier-car-wash', '会员月度免费洗车', 'free_car_wash', 1, 0, '[]', 31, 1, $1) on conflict (template_id) do nothing",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Points earned before lots existed become one lot per member, dated today.
        let today = chrono::Utc::now().date_naive().to_string();
        sqlx::query(
            "insert into points_lot (customer_id, earned_on, points, remaining) select substr(a.account_id, 10, length(a.account_id) - 16), $1, a.credits_posted - a.debits_posted, a.credits_posted - a.debits_posted from account a where a.account_id like 'customer:%:points' and a.credits_posted - a.debits_posted > 0 and not exists (select 1 from points_lot l where l.customer_id = substr(a.account_id, 10, length(a.account_id) - 16))",
        )
        .bind(&today)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut tx = self.begin().await?;
        tx.seed_service_desk().await?;
        tx.commit().await?;
        Ok(())
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("select max(version) from schema_migration")
            .fetch_one(self.read())
            .await?;
        Ok(v.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn statements_split_and_drop_comments() {
        let s: Vec<String> =
            super::statements("-- a\ncreate table a (x bigint);\n-- b\ncreate index i on a (x);\n")
                .collect();
        assert_eq!(
            s,
            vec!["create table a (x bigint)", "create index i on a (x)"]
        );
    }
}

//! Reads and writes of everything but the ledger itself.

use crate::bulk::Val;
use crate::deferred::Expect;
use crate::model::*;
use crate::personal::{
    id_number_index, name_index, phone_index, plate_index, seal, unseal, unseal_opt,
};
use crate::{new_id, now_us, Store, StoreError, Tx};
use forecourt_core::ledger::{account, Policy, Unit};
use forecourt_core::limits::CardRules;
use forecourt_privacy::Vault;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

const STATION_COLS: &str = "s.station_id, s.code, s.name, s.region_id, r.code, s.address, s.lat, s.lon, s.time_zone, coalesce(s.province, r.province), s.opening_hours";

fn station(r: &AnyRow) -> Result<Station, StoreError> {
    Ok(Station {
        station_id: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        region_id: r.try_get(3)?,
        region_code: r.try_get(4)?,
        address: r.try_get(5)?,
        lat: r.try_get(6)?,
        lon: r.try_get(7)?,
        time_zone: r.try_get(8)?,
        province: r.try_get(9)?,
        opening_hours: r.try_get(10)?,
    })
}

const CUSTOMER_COLS: &str = "customer_id, member_code, kind, name_enc, phone_enc, industry, birthday, occupation, home_station_id, source, source_code, tier_code, consent_marketing, consent_sensitive, tags, notes, created_at, account_manager_id, anonymized_at, id_number_enc, address_enc";

fn customer(r: &AnyRow, vault: &Vault) -> Result<Customer, StoreError> {
    customer_at(r, vault, 0)
}

/// A customer from the columns of [`CUSTOMER_COLS`] starting at column `base`.
fn customer_at(r: &AnyRow, vault: &Vault, base: usize) -> Result<Customer, StoreError> {
    let id: String = r.try_get(base)?;
    let tags: String = r.try_get(base + 14)?;
    Ok(Customer {
        member_code: r.try_get(base + 1)?,
        kind: r.try_get(base + 2)?,
        name: unseal(
            vault,
            "customer.name",
            &id,
            &r.try_get::<String, _>(base + 3)?,
        )?,
        phone: unseal_opt(vault, "customer.phone", &id, r.try_get(base + 4)?)?,
        industry: r.try_get(base + 5)?,
        birthday: r.try_get(base + 6)?,
        occupation: r.try_get(base + 7)?,
        home_station_id: r.try_get(base + 8)?,
        source: r.try_get(base + 9)?,
        source_code: r.try_get(base + 10)?,
        tier_code: r.try_get(base + 11)?,
        consent_marketing: r.try_get::<i64, _>(base + 12)? != 0,
        consent_sensitive: r.try_get::<i64, _>(base + 13)? != 0,
        tags: serde_json::from_str(&tags)?,
        notes: r.try_get(base + 15)?,
        created_at: r.try_get(base + 16)?,
        account_manager_id: r.try_get(base + 17)?,
        anonymized_at: r.try_get(base + 18)?,
        id_number: unseal_opt(vault, "customer.id_number", &id, r.try_get(base + 19)?)?,
        address: unseal_opt(vault, "customer.address", &id, r.try_get(base + 20)?)?,
        customer_id: id,
    })
}

/// The number of columns in [`CARD_COLS`].
const CARD_COLUMNS: usize = 14;

pub(crate) const CARD_COLS: &str = "card_id, card_no, kind, state, customer_id, main_card_id, balance_mode, cap_fen, rules, pin_hash, pin_failures, replaced_by_card_id, created_at, issued_station_id";

pub(crate) fn card(r: &AnyRow, vault: &Vault) -> Result<Card, StoreError> {
    let id: String = r.try_get(0)?;
    let rules: String = r.try_get(8)?;
    let mut rules = serde_json::from_str::<CardRules>(&rules)?;
    if let Some(plate) = rules.plate.as_mut() {
        plate.value = unseal(vault, "card.plate", &id, &plate.value)?;
    }
    Ok(Card {
        card_no: r.try_get(1)?,
        kind: r.try_get(2)?,
        state: r.try_get(3)?,
        customer_id: r.try_get(4)?,
        main_card_id: r.try_get(5)?,
        balance_mode: r.try_get(6)?,
        cap_fen: r.try_get(7)?,
        rules,
        pin_hash: r.try_get(9)?,
        pin_failures: r.try_get(10)?,
        replaced_by_card_id: r.try_get(11)?,
        created_at: r.try_get(12)?,
        issued_station_id: r.try_get(13)?,
        card_id: id,
    })
}

/// The rules as stored: a bound plate sealed to the card.
pub(crate) fn sealed_rules(
    vault: &Vault,
    card_id: &str,
    rules: &CardRules,
) -> Result<String, StoreError> {
    let mut rules = rules.clone();
    if let Some(plate) = rules.plate.as_mut() {
        plate.value = seal(vault, "card.plate", card_id, &plate.value);
    }
    Ok(serde_json::to_string(&rules)?)
}

async fn station_by<'e, E: Executor<'e, Database = Any>>(
    db: E,
    col: &str,
    value: &str,
) -> Result<Option<Station>, StoreError> {
    let sql = format!("select {STATION_COLS} from station s left join region r on r.region_id = s.region_id where s.{col} = $1");
    let row = sqlx::query(&sql).bind(value).fetch_optional(db).await?;
    row.as_ref().map(station).transpose()
}

/// `rows` rows of `cols` placeholders each: `($1, $2), ($3, $4)`.
pub(crate) fn placeholder_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", p.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn card_by<'e, E: Executor<'e, Database = Any>>(
    db: E,
    vault: &Vault,
    col: &str,
    value: &str,
) -> Result<Option<Card>, StoreError> {
    let sql = format!("select {CARD_COLS} from card where {col} = $1");
    let row = sqlx::query(&sql).bind(value).fetch_optional(db).await?;
    row.as_ref().map(|r| card(r, vault)).transpose()
}

async fn customer_by_id<'e, E: Executor<'e, Database = Any>>(
    db: E,
    vault: &Vault,
    id: &str,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!("select {CUSTOMER_COLS} from customer where customer_id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db).await?;
    row.as_ref().map(|r| customer(r, vault)).transpose()
}

async fn tier_by_code<'e, E: Executor<'e, Database = Any>>(
    db: E,
    code: &str,
) -> Result<Option<Tier>, StoreError> {
    let sql = format!("select {TIER_COLS} from tier where code = $1");
    let row = sqlx::query(&sql).bind(code).fetch_optional(db).await?;
    row.as_ref().map(tier).transpose()
}

pub(crate) const TIER_COLS: &str =
    "code, name, rank, discount_fen_per_litre, points_multiplier_permille, qualify_spend_fen, qualify_litres_ml, qualify_visits, monthly_car_washes";

pub(crate) fn tier(r: &AnyRow) -> Result<Tier, StoreError> {
    Ok(Tier {
        code: r.try_get(0)?,
        name: r.try_get(1)?,
        rank: r.try_get(2)?,
        discount_fen_per_litre: r.try_get(3)?,
        points_multiplier_permille: r.try_get(4)?,
        qualify_spend_fen: r.try_get(5)?,
        qualify_litres_ml: r.try_get(6)?,
        qualify_visits: r.try_get(7)?,
        monthly_car_washes: r.try_get(8)?,
    })
}

const PRODUCT_COLS: &str = "product_id, code, name, kind, category";

fn product(r: &AnyRow) -> Result<Product, StoreError> {
    Ok(Product {
        product_id: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        kind: r.try_get(3)?,
        category: r.try_get(4)?,
    })
}

async fn product_by_code<'e, E: Executor<'e, Database = Any>>(
    db: E,
    code: &str,
) -> Result<Option<Product>, StoreError> {
    let sql = format!("select {PRODUCT_COLS} from product where code = $1");
    let row = sqlx::query(&sql).bind(code).fetch_optional(db).await?;
    row.as_ref().map(product).transpose()
}

async fn card_balance<'e, E: Executor<'e, Database = Any>>(
    db: E,
    card_id: &str,
) -> Result<CardBalance, StoreError> {
    let rows = sqlx::query(
        "select account_id, credits_posted - debits_posted - debits_pending, debits_pending from account where account_id in ($1, $2)",
    )
    .bind(account::card_paid(card_id))
    .bind(account::card_bonus(card_id))
    .fetch_all(db)
    .await?;
    let mut b = CardBalance::default();
    for r in rows {
        let name: String = r.try_get(0)?;
        let avail: i64 = r.try_get(1)?;
        let held: i64 = r.try_get(2)?;
        if name.ends_with(":paid") {
            b.paid_fen = avail;
        } else {
            b.bonus_fen = avail;
        }
        b.held_fen += held;
    }
    Ok(b)
}

async fn usage<'e, E: Executor<'e, Database = Any>>(
    db: E,
    card_id: &str,
    from: i64,
    to: i64,
) -> Result<(i64, i64, i64), StoreError> {
    let r = sqlx::query(
        "select cast(coalesce(sum(sales), 0) as bigint), cast(coalesce(sum(amount_fen), 0) as bigint), cast(coalesce(sum(volume_ml), 0) as bigint) \
         from card_usage where card_id = $1 and occurred_at >= $2 and occurred_at < $3",
    )
    .bind(card_id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

impl Store {
    pub async fn station_by_code(&self, code: &str) -> Result<Option<Station>, StoreError> {
        station_by(self.read(), "code", code).await
    }

    pub async fn station_by_id(&self, id: &str) -> Result<Option<Station>, StoreError> {
        station_by(self.read(), "station_id", id).await
    }

    pub async fn stations(&self) -> Result<Vec<Station>, StoreError> {
        let sql = format!("select {STATION_COLS} from station s left join region r on r.region_id = s.region_id order by s.code");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(station).collect()
    }

    pub async fn regions(&self) -> Result<Vec<Region>, StoreError> {
        let rows = sqlx::query("select region_id, code, name, province from region order by code")
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Region {
                    region_id: r.try_get(0)?,
                    code: r.try_get(1)?,
                    name: r.try_get(2)?,
                    province: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let sql = format!("select {PRODUCT_COLS} from product order by code");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(product).collect()
    }

    pub async fn product_by_code(&self, code: &str) -> Result<Option<Product>, StoreError> {
        product_by_code(self.read(), code).await
    }

    /// The price history of a station, newest first, optionally for one product.
    pub async fn prices(
        &self,
        station_id: &str,
        product_code: Option<&str>,
    ) -> Result<Vec<Price>, StoreError> {
        let rows = sqlx::query(
            "select s.code, p.code, x.unit_price_fen, x.effective_from from price x join station s on s.station_id = x.station_id \
             join product p on p.product_id = x.product_id where x.station_id = $1 and ($2 = '' or p.code = $2) \
             order by p.code, x.effective_from desc",
        )
        .bind(station_id)
        .bind(product_code.unwrap_or(""))
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Price {
                    station_code: r.try_get(0)?,
                    product_code: r.try_get(1)?,
                    unit_price_fen: r.try_get(2)?,
                    effective_from: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The price in effect at `at` for a product at a station.
    pub async fn price_at(
        &self,
        station_id: &str,
        product_id: &str,
        at: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "select unit_price_fen from price where station_id = $1 and product_id = $2 and effective_from <= $3 order by effective_from desc limit 1",
        )
        .bind(station_id)
        .bind(product_id)
        .bind(at)
        .fetch_optional(self.read())
        .await?)
    }

    pub async fn tier(&self, code: &str) -> Result<Option<Tier>, StoreError> {
        tier_by_code(self.read(), code).await
    }

    pub async fn tiers(&self) -> Result<Vec<Tier>, StoreError> {
        let sql = format!("select {TIER_COLS} from tier order by rank");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(tier).collect()
    }

    pub async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        customer_by_id(self.read(), self.vault(), id).await
    }

    pub async fn customer_by_member_code(
        &self,
        code: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let id: Option<String> =
            sqlx::query_scalar("select customer_id from customer where member_code = $1")
                .bind(code)
                .fetch_optional(self.read())
                .await?;
        match id {
            Some(id) => self.customer(&id).await,
            None => Ok(None),
        }
    }

    /// Customer ids with this phone (customers and company contacts).
    pub async fn customer_ids_by_phone(&self, phone: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select customer_id from customer where phone_idx = $1 union select customer_id from contact where phone_idx = $1",
        )
        .bind(phone_index(self.vault(), phone))
        .fetch_all(self.read())
        .await?)
    }

    pub async fn customer_ids_by_plate(&self, plate: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select distinct customer_id from vehicle where plate_idx = $1")
                .bind(plate_index(self.vault(), plate))
                .fetch_all(self.read())
                .await?,
        )
    }

    /// Customer ids with exactly this name (compared without case or spaces). Names are
    /// stored encrypted, so there is no prefix search.
    pub async fn customer_ids_by_name(
        &self,
        name: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select customer_id from customer where name_idx = $1 order by created_at limit $2",
        )
        .bind(name_index(self.vault(), name))
        .bind(limit)
        .fetch_all(self.read())
        .await?)
    }

    pub async fn customer_ids_by_id_number(
        &self,
        id_number: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select customer_id from customer where id_number_idx = $1")
                .bind(id_number_index(self.vault(), id_number))
                .fetch_all(self.read())
                .await?,
        )
    }

    pub async fn vehicles(&self, customer_id: &str) -> Result<Vec<Vehicle>, StoreError> {
        let rows = sqlx::query(
            "select vehicle_id, plate_enc, model, colour, fuel_type, tank_capacity_ml from vehicle where customer_id = $1 order by created_at",
        )
        .bind(customer_id)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                Ok(Vehicle {
                    plate: unseal(
                        self.vault(),
                        "vehicle.plate",
                        &id,
                        &r.try_get::<String, _>(1)?,
                    )?,
                    model: r.try_get(2)?,
                    colour: r.try_get(3)?,
                    fuel_type: r.try_get(4)?,
                    tank_capacity_ml: r.try_get(5)?,
                    vehicle_id: id,
                })
            })
            .collect()
    }

    pub async fn contacts(&self, customer_id: &str) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query("select contact_id, name_enc, phone_enc, role from contact where customer_id = $1 order by created_at")
            .bind(customer_id)
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                Ok(Contact {
                    name: unseal(
                        self.vault(),
                        "contact.name",
                        &id,
                        &r.try_get::<String, _>(1)?,
                    )?,
                    phone: unseal_opt(self.vault(), "contact.phone", &id, r.try_get(2)?)?,
                    role: r.try_get(3)?,
                    contact_id: id,
                })
            })
            .collect()
    }

    pub async fn card_by_no(&self, card_no: &str) -> Result<Option<Card>, StoreError> {
        card_by(self.read(), self.vault(), "card_no", card_no).await
    }

    /// The card with this number and its holder, in one statement (a till identifying
    /// the customer by card).
    pub async fn card_and_holder_by_no(
        &self,
        card_no: &str,
    ) -> Result<Option<(Card, Option<Customer>)>, StoreError> {
        let cols = |prefix: &str, cols: &str| {
            cols.split(", ")
                .map(|c| format!("{prefix}.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "select {}, {} from card k left join customer c on c.customer_id = k.customer_id where k.card_no = $1",
            cols("k", CARD_COLS),
            cols("c", CUSTOMER_COLS)
        );
        let Some(r) = sqlx::query(&sql)
            .bind(card_no)
            .fetch_optional(self.read())
            .await?
        else {
            return Ok(None);
        };
        let card = card(&r, &self.vault)?;
        let holder = match r.try_get::<Option<String>, _>(CARD_COLUMNS)? {
            Some(_) => Some(customer_at(&r, &self.vault, CARD_COLUMNS)?),
            None => None,
        };
        Ok(Some((card, holder)))
    }

    pub async fn card_by_id(&self, card_id: &str) -> Result<Option<Card>, StoreError> {
        card_by(self.read(), self.vault(), "card_id", card_id).await
    }

    pub async fn cards_of_customer(&self, customer_id: &str) -> Result<Vec<Card>, StoreError> {
        let sql =
            format!("select {CARD_COLS} from card where customer_id = $1 order by created_at");
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(|r| card(r, self.vault())).collect()
    }

    pub async fn sub_cards(&self, main_card_id: &str) -> Result<Vec<Card>, StoreError> {
        let sql =
            format!("select {CARD_COLS} from card where main_card_id = $1 order by created_at");
        let rows = sqlx::query(&sql)
            .bind(main_card_id)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(|r| card(r, self.vault())).collect()
    }

    pub async fn card_balance(&self, card_id: &str) -> Result<CardBalance, StoreError> {
        card_balance(self.read(), card_id).await
    }

    /// Sales count, amount and volume of a card in `[from, to)`.
    pub async fn card_usage(
        &self,
        card_id: &str,
        from: i64,
        to: i64,
    ) -> Result<(i64, i64, i64), StoreError> {
        usage(self.read(), card_id, from, to).await
    }

    pub async fn points_balance(&self, customer_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .account_totals(&account::customer_points(customer_id))
            .await?
            .available())
    }

    pub async fn credit_agreement(
        &self,
        customer_id: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let r = sqlx::query(
            "select credit_limit_fen, billing_day from credit_agreement where customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(self.read())
        .await?;
        r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    pub async fn recent_sales(
        &self,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<RecentSale>, StoreError> {
        self.recent_sales_by("customer_id", customer_id, limit)
            .await
    }

    /// The newest sales paid with or naming a card (a card's page lists them).
    pub async fn recent_card_sales(
        &self,
        card_id: &str,
        limit: i64,
    ) -> Result<Vec<RecentSale>, StoreError> {
        self.recent_sales_by("card_id", card_id, limit).await
    }

    /// `column` is one of the two indexed owners of a sale, never caller input.
    async fn recent_sales_by(
        &self,
        column: &'static str,
        id: &str,
        limit: i64,
    ) -> Result<Vec<RecentSale>, StoreError> {
        let sql = format!(
            "select x.sale_id, s.code, x.occurred_at, x.net_fen, x.points_earned, x.refunded_fen from sale x join station s on s.station_id = x.station_id \
             where x.{column} = $1 order by x.occurred_at desc limit $2"
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .bind(limit)
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RecentSale {
                    sale_id: r.try_get(0)?,
                    station_code: r.try_get(1)?,
                    occurred_at: r.try_get(2)?,
                    net_fen: r.try_get(3)?,
                    points_earned: r.try_get(4)?,
                    refunded_fen: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Every staff user, by username.
    pub async fn users(&self) -> Result<Vec<StaffUser>, StoreError> {
        let rows = sqlx::query("select user_id, username, password_hash, role, scope, failed_logins, locked_until, disabled from staff_user order by username")
            .fetch_all(self.read())
            .await?;
        rows.iter().map(staff_user_row).collect()
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<StaffUser>, StoreError> {
        let r = sqlx::query("select user_id, username, password_hash, role, scope, failed_logins, locked_until, disabled from staff_user where username = $1")
            .bind(username)
            .fetch_optional(self.read())
            .await?;
        r.as_ref().map(staff_user_row).transpose()
    }

    /// The user of a live session token hash: not revoked, before its absolute expiry,
    /// and used within `idle_us`. Marks the session as used (at most once a minute, so
    /// that reads stay cheap).
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: i64,
        idle_us: i64,
    ) -> Result<Option<StaffUser>, StoreError> {
        let row = sqlx::query(
            "select u.username, s.last_seen_at from staff_session s join staff_user u on u.user_id = s.user_id \
             where s.token_hash = $1 and s.revoked_at is null and s.expires_at > $2 and s.last_seen_at > $3 and u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now)
        .bind(now - idle_us)
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (username, last_seen): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if now - last_seen > 60_000_000 {
            sqlx::query("update staff_session set last_seen_at = $1 where token_hash = $2")
                .bind(now)
                .bind(token_hash)
                .execute(&self.write)
                .await?;
        }
        self.user_by_username(&username).await
    }

    /// The station of a live POS token hash.
    pub async fn pos_token_station(&self, token_hash: &str) -> Result<Option<Station>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "select station_id from pos_token where token_hash = $1 and revoked_at is null",
        )
        .bind(token_hash)
        .fetch_optional(self.read())
        .await?;
        match id {
            Some(id) => self.station_by_id(&id).await,
            None => Ok(None),
        }
    }

    pub async fn sale(&self, sale_id: &str) -> Result<Option<SaleRecord>, StoreError> {
        sale_by_id(self.read(), sale_id).await
    }

    pub async fn authorization(&self, id: &str) -> Result<Option<Authorization>, StoreError> {
        authorization_by_id(self.read(), id).await
    }

    /// Ids of pending authorisations whose hold expired before `now`.
    pub async fn expired_authorizations(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("select authorization_id from authorization_hold where state = 'pending' and expires_at <= $1 order by expires_at limit $2")
            .bind(now)
            .bind(limit)
            .fetch_all(self.read())
            .await?)
    }

    pub async fn recharge_promotions(&self) -> Result<Vec<RechargePromotion>, StoreError> {
        let rows = sqlx::query("select promotion_id, name, min_amount_fen, bonus_fen, valid_from, valid_until from recharge_promotion order by min_amount_fen")
            .fetch_all(self.read())
            .await?;
        rows.iter().map(promotion).collect()
    }
}

fn promotion(r: &AnyRow) -> Result<RechargePromotion, StoreError> {
    Ok(RechargePromotion {
        promotion_id: r.try_get(0)?,
        name: r.try_get(1)?,
        min_amount_fen: r.try_get(2)?,
        bonus_fen: r.try_get(3)?,
        valid_from: r.try_get(4)?,
        valid_until: r.try_get(5)?,
    })
}

async fn sale_by_id<'e, E: Executor<'e, Database = Any>>(
    db: E,
    sale_id: &str,
) -> Result<Option<SaleRecord>, StoreError> {
    let r = sqlx::query(
        "select sale_id, station_id, customer_id, card_id, occurred_at, gross_fen, discount_fen, net_fen, points_earned, refunded_fen, points_reversed, tier_code from sale where sale_id = $1",
    )
    .bind(sale_id)
    .fetch_optional(db)
    .await?;
    r.map(|r| {
        Ok(SaleRecord {
            sale_id: r.try_get(0)?,
            station_id: r.try_get(1)?,
            customer_id: r.try_get(2)?,
            card_id: r.try_get(3)?,
            occurred_at: r.try_get(4)?,
            gross_fen: r.try_get(5)?,
            discount_fen: r.try_get(6)?,
            net_fen: r.try_get(7)?,
            points_earned: r.try_get(8)?,
            refunded_fen: r.try_get(9)?,
            points_reversed: r.try_get(10)?,
            tier_code: r.try_get(11)?,
        })
    })
    .transpose()
}

async fn authorization_by_id<'e, E: Executor<'e, Database = Any>>(
    db: E,
    id: &str,
) -> Result<Option<Authorization>, StoreError> {
    let r = sqlx::query("select authorization_id, station_id, card_id, journal_id, held_fen, state, expires_at from authorization_hold where authorization_id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    r.map(|r| {
        Ok(Authorization {
            authorization_id: r.try_get(0)?,
            station_id: r.try_get(1)?,
            card_id: r.try_get(2)?,
            journal_id: r.try_get(3)?,
            held_fen: r.try_get(4)?,
            state: r.try_get(5)?,
            expires_at: r.try_get(6)?,
        })
    })
    .transpose()
}

/// Sale rows to write.
#[derive(Debug, Clone)]
pub struct NewSale {
    pub sale_id: String,
    pub station_id: String,
    pub pos_txn_id: String,
    pub journal_id: String,
    pub customer_id: Option<String>,
    pub card_id: Option<String>,
    pub occurred_at: i64,
    pub gross_fen: i64,
    pub discount_fen: i64,
    pub net_fen: i64,
    pub points_earned: i64,
    pub tier_code: Option<String>,
    pub authorization_id: Option<String>,
    pub flags: String,
    /// Why the sale earned its points (JSON list of points lines).
    pub points_detail: String,
    pub lines: Vec<SaleLineRecord>,
    pub payments: Vec<SalePaymentRecord>,
}

impl Tx {
    pub async fn create_region(
        &mut self,
        code: &str,
        name: &str,
        province: Option<&str>,
    ) -> Result<String, StoreError> {
        if let Some(id) =
            sqlx::query_scalar::<_, String>("select region_id from region where code = $1")
                .bind(code)
                .fetch_optional(&mut *self.tx)
                .await?
        {
            return Ok(id);
        }
        let id = new_id();
        sqlx::query("insert into region (region_id, code, name, province, created_at) values ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(code)
            .bind(name)
            .bind(province)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    pub async fn create_station(&mut self, s: &NewStation) -> Result<String, StoreError> {
        let region_id = match &s.region_code {
            Some(code) => Some(
                self.create_region(code, code, s.province.as_deref())
                    .await?,
            ),
            None => None,
        };
        let id = new_id();
        // The coordinates travel as text: through the Any driver a missing f64 is sent
        // to PostgreSQL as a 4-byte float, which fixes the cached statement's parameter
        // type, and the next station with coordinates then fails to bind.
        sqlx::query(
            "insert into station (station_id, code, name, region_id, address, lat, lon, time_zone, province, opening_hours, created_at) \
             values ($1, $2, $3, $4, $5, cast($6 as double precision), cast($7 as double precision), $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&s.code)
        .bind(&s.name)
        .bind(region_id)
        .bind(s.address.as_deref())
        .bind(s.lat.map(|v| v.to_string()))
        .bind(s.lon.map(|v| v.to_string()))
        .bind(s.time_zone.as_deref().unwrap_or("Asia/Shanghai"))
        .bind(s.province.as_deref())
        .bind(s.opening_hours.as_deref())
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn create_product(
        &mut self,
        code: &str,
        name: &str,
        kind: &str,
        category: Option<&str>,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query("insert into product (product_id, code, name, kind, category, created_at) values ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(code)
            .bind(name)
            .bind(kind)
            .bind(category)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    pub async fn add_price(
        &mut self,
        station_id: &str,
        product_id: &str,
        unit_price_fen: i64,
        effective_from: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("insert into price (price_id, station_id, product_id, unit_price_fen, effective_from, created_at) values ($1, $2, $3, $4, $5, $6)")
            .bind(new_id())
            .bind(station_id)
            .bind(product_id)
            .bind(unit_price_fen)
            .bind(effective_from)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn station_by_code(&mut self, code: &str) -> Result<Option<Station>, StoreError> {
        station_by(&mut *self.tx, "code", code).await
    }

    pub async fn product_by_code(&mut self, code: &str) -> Result<Option<Product>, StoreError> {
        product_by_code(&mut *self.tx, code).await
    }

    pub async fn tier(&mut self, code: &str) -> Result<Option<Tier>, StoreError> {
        tier_by_code(&mut *self.tx, code).await
    }

    pub async fn customer(&mut self, id: &str) -> Result<Option<Customer>, StoreError> {
        customer_by_id(&mut *self.tx, &self.vault, id).await
    }

    /// Creates a customer with vehicles and contacts, and their points account.
    pub async fn create_customer(&mut self, c: &NewCustomer) -> Result<String, StoreError> {
        let id = new_id();
        let now = now_us();
        let v = self.vault.clone();
        sqlx::query(
            "insert into customer (customer_id, member_code, kind, name_enc, name_idx, phone_enc, phone_idx, id_number_enc, id_number_idx, address_enc, \
             industry, birthday, occupation, home_station_id, source, source_code, tier_code, consent_marketing, consent_sensitive, tags, notes, \
             account_manager_id, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'standard', $17, $18, $19, $20, $21, $22, $22)",
        )
        .bind(&id)
        .bind(&c.member_code)
        .bind(&c.kind)
        .bind(seal(&v, "customer.name", &id, &c.name))
        .bind(name_index(&v, &c.name))
        .bind(c.phone.as_deref().map(|p| seal(&v, "customer.phone", &id, p)))
        .bind(c.phone.as_deref().map(|p| phone_index(&v, p)))
        .bind(c.id_number.as_deref().map(|n| seal(&v, "customer.id_number", &id, n)))
        .bind(c.id_number.as_deref().map(|n| id_number_index(&v, n)))
        .bind(c.address.as_deref().map(|a| seal(&v, "customer.address", &id, a)))
        .bind(c.industry.as_deref())
        .bind(c.birthday.as_deref())
        .bind(c.occupation.as_deref())
        .bind(c.home_station_id.as_deref())
        .bind(c.source.as_deref())
        .bind(c.source_code.as_deref())
        .bind(i64::from(c.consent_marketing))
        .bind(i64::from(c.consent_sensitive))
        .bind(serde_json::to_string(&c.tags)?)
        .bind(c.notes.as_deref())
        .bind(c.account_manager_id.as_deref())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        for vh in &c.vehicles {
            self.add_vehicle(&id, vh).await?;
        }
        for k in &c.contacts {
            let contact_id = new_id();
            sqlx::query(
                "insert into contact (contact_id, customer_id, name_enc, phone_enc, phone_idx, role, created_at) values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&contact_id)
            .bind(&id)
            .bind(seal(&v, "contact.name", &contact_id, &k.name))
            .bind(k.phone.as_deref().map(|p| seal(&v, "contact.phone", &contact_id, p)))
            .bind(k.phone.as_deref().map(|p| phone_index(&v, p)))
            .bind(k.role.as_deref())
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        }
        self.ensure_account(
            &account::customer_points(&id),
            Unit::Points,
            Policy::NoOverdraft,
        )
        .await?;
        Ok(id)
    }

    /// Erases a customer's personal data (PIPL): name, phone, ID number, address,
    /// birthday, notes, tags, vehicles and contacts, what they told the service desk
    /// (tickets' descriptions and notes, survey answers' text), and ends the member's portal access
    /// (password and sessions). Cards, sales and the ledger stay, tied to the customer
    /// id only, so every balance and report still adds up.
    pub async fn anonymize_customer(&mut self, customer_id: &str) -> Result<(), StoreError> {
        let v = self.vault.clone();
        let placeholder = "已注销";
        let n = sqlx::query(
            "update customer set name_enc = $1, name_idx = $2, phone_enc = null, phone_idx = null, id_number_enc = null, id_number_idx = null, \
             address_enc = null, email_enc = null, birthday = null, occupation = null, notes = null, tags = '[]', source_code = null, consent_marketing = 0, \
             consent_sensitive = 0, anonymized_at = $3, updated_at = $3 where customer_id = $4",
        )
        .bind(seal(&v, "customer.name", customer_id, placeholder))
        // An index nobody can look up: keyed on the customer id, not on a name.
        .bind(v.blind_index("anonymized", customer_id))
        .bind(now_us())
        .bind(customer_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::NotFound("customer"));
        }
        sqlx::query("delete from vehicle where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("delete from contact where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        // Their messages hold their address and what was said to them: erased, and
        // none still waiting is sent to a person who is gone.
        sqlx::query("delete from message where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        // What they told the service desk: tickets' descriptions and notes, survey
        // answers' text.
        self.erase_desk_content(customer_id, now_us()).await?;
        // The member can no longer sign in to the portal.
        sqlx::query("delete from member_credential where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "update member_session set revoked_at = $1 where customer_id = $2 and revoked_at is null",
        )
        .bind(now_us())
        .bind(customer_id)
        .execute(&mut *self.tx)
        .await?;
        // A bound plate in a card's rules is personal data too.
        let cards: Vec<(String, String)> =
            sqlx::query_as("select card_id, rules from card where customer_id = $1")
                .bind(customer_id)
                .fetch_all(&mut *self.tx)
                .await?;
        for (card_id, rules) in cards {
            let mut rules: CardRules = serde_json::from_str(&rules)?;
            if rules.plate.take().is_some() {
                sqlx::query("update card set rules = $1 where card_id = $2")
                    .bind(serde_json::to_string(&rules)?)
                    .bind(&card_id)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn set_customer_tier(
        &mut self,
        customer_id: &str,
        tier_code: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("update customer set tier_code = $1, updated_at = $2 where customer_id = $3")
            .bind(tier_code)
            .bind(now_us())
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn add_vehicle(
        &mut self,
        customer_id: &str,
        v: &NewVehicle,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into vehicle (vehicle_id, customer_id, plate_enc, plate_idx, model, colour, fuel_type, tank_capacity_ml, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(customer_id)
        .bind(seal(&self.vault, "vehicle.plate", &id, &v.plate))
        .bind(plate_index(&self.vault, &v.plate))
        .bind(v.model.as_deref())
        .bind(v.colour.as_deref())
        .bind(v.fuel_type.as_deref())
        .bind(v.tank_capacity_ml)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Sets or changes a customer's credit (挂账) agreement and opens its account.
    pub async fn set_credit_agreement(
        &mut self,
        customer_id: &str,
        limit_fen: i64,
        billing_day: i64,
    ) -> Result<(), StoreError> {
        let now = now_us();
        let n = sqlx::query("update credit_agreement set credit_limit_fen = $1, billing_day = $2, updated_at = $3 where customer_id = $4")
            .bind(limit_fen)
            .bind(billing_day)
            .bind(now)
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if n == 0 {
            sqlx::query("insert into credit_agreement (customer_id, credit_limit_fen, billing_day, created_at, updated_at) values ($1, $2, $3, $4, $4)")
                .bind(customer_id)
                .bind(limit_fen)
                .bind(billing_day)
                .bind(now)
                .execute(&mut *self.tx)
                .await?;
        }
        let name = account::customer_credit(customer_id);
        self.ensure_account(&name, Unit::Fen, Policy::CreditLimit(limit_fen))
            .await?;
        self.set_credit_limit(&name, limit_fen).await
    }

    /// Issues a card and opens its accounts (a pooled fleet sub-card spends its main
    /// card's accounts, but gets its own so that it can switch to allocation later).
    pub async fn create_card(&mut self, c: &NewCard) -> Result<String, StoreError> {
        let id = new_id();
        let now = now_us();
        sqlx::query(
            "insert into card (card_id, card_no, kind, state, customer_id, main_card_id, balance_mode, cap_fen, rules, pin_hash, issued_station_id, created_at, updated_at) \
             values ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&id)
        .bind(&c.card_no)
        .bind(&c.kind)
        .bind(c.customer_id.as_deref())
        .bind(c.main_card_id.as_deref())
        .bind(&c.balance_mode)
        .bind(c.cap_fen)
        .bind(sealed_rules(&self.vault, &id, &c.rules)?)
        .bind(c.pin_hash.as_deref())
        .bind(c.issued_station_id.as_deref())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        self.ensure_account(&account::card_paid(&id), Unit::Fen, Policy::NoOverdraft)
            .await?;
        self.ensure_account(&account::card_bonus(&id), Unit::Fen, Policy::NoOverdraft)
            .await?;
        Ok(id)
    }

    /// Takes the card's row lock for the rest of the transaction (on PostgreSQL a row
    /// lock; on SQLite the single writer already serialises) and returns the card as it
    /// is now. Lock cards in ascending id order.
    pub async fn lock_card(&mut self, card_id: &str) -> Result<Card, StoreError> {
        self.lock_card_by("card_id", card_id)
            .await?
            .ok_or(StoreError::NotFound("card"))
    }

    /// [`Tx::lock_card`] by the card's number, in one statement; `None` for an unknown
    /// number. For a sale of one card: the ascending-id order of `lock_card` matters
    /// only when several cards are locked.
    pub async fn lock_card_by_no(&mut self, card_no: &str) -> Result<Option<Card>, StoreError> {
        self.lock_card_by("card_no", card_no).await
    }

    async fn lock_card_by(&mut self, col: &str, value: &str) -> Result<Option<Card>, StoreError> {
        let sql = format!(
            "update card set lock_version = lock_version + 1 where {col} = $1 returning {CARD_COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| card(r, &self.vault)).transpose()
    }

    pub async fn card_by_no(&mut self, card_no: &str) -> Result<Option<Card>, StoreError> {
        card_by(&mut *self.tx, &self.vault, "card_no", card_no).await
    }

    pub async fn card_by_id(&mut self, card_id: &str) -> Result<Option<Card>, StoreError> {
        card_by(&mut *self.tx, &self.vault, "card_id", card_id).await
    }

    pub async fn card_balance(&mut self, card_id: &str) -> Result<CardBalance, StoreError> {
        card_balance(&mut *self.tx, card_id).await
    }

    pub async fn card_usage(
        &mut self,
        card_id: &str,
        from: i64,
        to: i64,
    ) -> Result<(i64, i64, i64), StoreError> {
        usage(&mut *self.tx, card_id, from, to).await
    }

    pub async fn set_card_state(
        &mut self,
        card_id: &str,
        state: &str,
        replaced_by: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("update card set state = $1, replaced_by_card_id = coalesce($2, replaced_by_card_id), updated_at = $3 where card_id = $4")
            .bind(state)
            .bind(replaced_by)
            .bind(now_us())
            .bind(card_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_card_rules(
        &mut self,
        card_id: &str,
        rules: &CardRules,
    ) -> Result<(), StoreError> {
        sqlx::query("update card set rules = $1, updated_at = $2 where card_id = $3")
            .bind(sealed_rules(&self.vault, card_id, rules)?)
            .bind(now_us())
            .bind(card_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_card_pin(
        &mut self,
        card_id: &str,
        pin_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update card set pin_hash = $1, pin_failures = 0, updated_at = $2 where card_id = $3",
        )
        .bind(pin_hash)
        .bind(now_us())
        .bind(card_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn reset_pin_failures(&mut self, card_id: &str) -> Result<(), StoreError> {
        sqlx::query("update card set pin_failures = 0 where card_id = $1 and pin_failures <> 0")
            .bind(card_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Registers an anonymous card to a customer (转卡) and makes it personal.
    pub async fn register_card(
        &mut self,
        card_id: &str,
        customer_id: &str,
        cap_fen: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("update card set customer_id = $1, kind = 'personal', cap_fen = $2, updated_at = $3 where card_id = $4 and kind = 'anonymous'")
            .bind(customer_id)
            .bind(cap_fen)
            .bind(now_us())
            .bind(card_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Moves a card's sub-cards to its replacement.
    pub async fn move_sub_cards(
        &mut self,
        from_card_id: &str,
        to_card_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("update card set main_card_id = $1 where main_card_id = $2")
            .bind(to_card_id)
            .bind(from_card_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_balance_mode(&mut self, card_id: &str, mode: &str) -> Result<(), StoreError> {
        sqlx::query("update card set balance_mode = $1, updated_at = $2 where card_id = $3")
            .bind(mode)
            .bind(now_us())
            .bind(card_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn credit_limit(&mut self, customer_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "select credit_limit_fen from credit_agreement where customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    pub async fn add_usage(
        &mut self,
        card_id: &str,
        occurred_at: i64,
        sales: i64,
        amount_fen: i64,
        volume_ml: i64,
        ref_id: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "insert into card_usage (card_id, occurred_at, sales, amount_fen, volume_ml, ref_id) values ($1, $2, $3, $4, $5, $6)",
            vec![
                card_id.into(),
                occurred_at.into(),
                sales.into(),
                amount_fen.into(),
                volume_ml.into(),
                ref_id.into(),
            ],
            Expect::Any,
        )
        .await
    }

    pub async fn pos_request(
        &mut self,
        station_id: &str,
        pos_txn_id: &str,
    ) -> Result<Option<PosRequest>, StoreError> {
        let r = sqlx::query("select kind, request_hash, status, response from pos_request where station_id = $1 and pos_txn_id = $2")
            .bind(station_id)
            .bind(pos_txn_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        r.map(|r| {
            Ok(PosRequest {
                kind: r.try_get(0)?,
                request_hash: r.try_get(1)?,
                status: r.try_get(2)?,
                response: r.try_get(3)?,
            })
        })
        .transpose()
    }

    pub async fn save_pos_request(
        &mut self,
        station_id: &str,
        pos_txn_id: &str,
        req: &PosRequest,
    ) -> Result<(), StoreError> {
        self.exec(
            "insert into pos_request (station_id, pos_txn_id, kind, request_hash, status, response, created_at) values ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                station_id.into(),
                pos_txn_id.into(),
                req.kind.as_str().into(),
                req.request_hash.as_str().into(),
                req.status.into(),
                req.response.as_str().into(),
                now_us().into(),
            ],
            Expect::Any,
        )
        .await
    }

    pub async fn insert_sale(&mut self, s: &NewSale) -> Result<(), StoreError> {
        self.exec(
            "insert into sale (sale_id, station_id, pos_txn_id, journal_id, customer_id, card_id, occurred_at, gross_fen, discount_fen, net_fen, points_earned, \
             tier_code, authorization_id, flags, created_at, points_detail) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            vec![
                s.sale_id.as_str().into(),
                s.station_id.as_str().into(),
                s.pos_txn_id.as_str().into(),
                s.journal_id.as_str().into(),
                s.customer_id.as_deref().into(),
                s.card_id.as_deref().into(),
                s.occurred_at.into(),
                s.gross_fen.into(),
                s.discount_fen.into(),
                s.net_fen.into(),
                s.points_earned.into(),
                s.tier_code.as_deref().into(),
                s.authorization_id.as_deref().into(),
                s.flags.as_str().into(),
                now_us().into(),
                s.points_detail.as_str().into(),
            ],
            Expect::Any,
        )
        .await?;
        if !s.lines.is_empty() {
            let mut binds: Vec<Val> = Vec::with_capacity(s.lines.len() * 12);
            for l in &s.lines {
                binds.extend([
                    Val::from(s.sale_id.as_str()),
                    l.line_no.into(),
                    l.product_code.as_str().into(),
                    l.kind.as_str().into(),
                    l.category.as_deref().into(),
                    l.volume_ml.into(),
                    l.quantity.into(),
                    l.unit_price_fen.into(),
                    l.gross_fen.into(),
                    l.discount_fen.into(),
                    l.net_fen.into(),
                    l.pump_no.into(),
                ]);
            }
            let sql = format!(
                "insert into sale_line (sale_id, line_no, product_code, kind, category, volume_ml, quantity, unit_price_fen, gross_fen, discount_fen, net_fen, pump_no) values {}",
                placeholder_rows(s.lines.len(), 12)
            );
            self.exec(sql, binds, Expect::Any).await?;
        }
        if !s.payments.is_empty() {
            let mut binds: Vec<Val> = Vec::with_capacity(s.payments.len() * 9);
            for p in &s.payments {
                binds.extend([
                    Val::from(s.sale_id.as_str()),
                    p.payment_no.into(),
                    p.method.as_str().into(),
                    p.amount_fen.into(),
                    p.card_id.as_deref().into(),
                    p.funding_card_id.as_deref().into(),
                    p.coupon_code.as_deref().into(),
                    p.from_paid_fen.into(),
                    p.from_bonus_fen.into(),
                ]);
            }
            let sql = format!(
                "insert into sale_payment (sale_id, payment_no, method, amount_fen, card_id, funding_card_id, coupon_code, from_paid_fen, from_bonus_fen) values {}",
                placeholder_rows(s.payments.len(), 9)
            );
            self.exec(sql, binds, Expect::Any).await?;
        }
        Ok(())
    }

    pub async fn sale(&mut self, sale_id: &str) -> Result<Option<SaleRecord>, StoreError> {
        sale_by_id(&mut *self.tx, sale_id).await
    }

    /// Takes the sale's row lock for the rest of the transaction.
    pub async fn lock_sale(&mut self, sale_id: &str) -> Result<SaleRecord, StoreError> {
        sqlx::query("update sale set refunded_fen = refunded_fen where sale_id = $1")
            .bind(sale_id)
            .execute(&mut *self.tx)
            .await?;
        sale_by_id(&mut *self.tx, sale_id)
            .await?
            .ok_or(StoreError::NotFound("sale"))
    }

    pub async fn sale_lines(&mut self, sale_id: &str) -> Result<Vec<SaleLineRecord>, StoreError> {
        let rows = sqlx::query(
            "select line_no, product_code, kind, category, volume_ml, quantity, unit_price_fen, gross_fen, discount_fen, net_fen, refunded_fen, pump_no \
             from sale_line where sale_id = $1 order by line_no",
        )
        .bind(sale_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SaleLineRecord {
                    line_no: r.try_get(0)?,
                    product_code: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    category: r.try_get(3)?,
                    volume_ml: r.try_get(4)?,
                    quantity: r.try_get(5)?,
                    unit_price_fen: r.try_get(6)?,
                    gross_fen: r.try_get(7)?,
                    discount_fen: r.try_get(8)?,
                    net_fen: r.try_get(9)?,
                    refunded_fen: r.try_get(10)?,
                    pump_no: r.try_get(11)?,
                })
            })
            .collect()
    }

    pub async fn sale_payments(
        &mut self,
        sale_id: &str,
    ) -> Result<Vec<SalePaymentRecord>, StoreError> {
        let rows = sqlx::query(
            "select payment_no, method, amount_fen, card_id, funding_card_id, coupon_code, from_paid_fen, from_bonus_fen, refunded_fen from sale_payment where sale_id = $1 order by payment_no",
        )
        .bind(sale_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SalePaymentRecord {
                    payment_no: r.try_get(0)?,
                    method: r.try_get(1)?,
                    amount_fen: r.try_get(2)?,
                    card_id: r.try_get(3)?,
                    funding_card_id: r.try_get(4)?,
                    coupon_code: r.try_get(5)?,
                    from_paid_fen: r.try_get(6)?,
                    from_bonus_fen: r.try_get(7)?,
                    refunded_fen: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Records a refund and what it took back from the sale's lines and payments.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_refund(
        &mut self,
        refund_id: &str,
        sale_id: &str,
        station_id: &str,
        pos_txn_id: &str,
        journal_id: &str,
        amount_fen: i64,
        points_reversed: i64,
        points_shortfall: i64,
        occurred_at: i64,
        lines: &[(i64, i64)],
        payments: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into refund (refund_id, sale_id, station_id, pos_txn_id, journal_id, amount_fen, points_reversed, points_shortfall, occurred_at, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(refund_id)
        .bind(sale_id)
        .bind(station_id)
        .bind(pos_txn_id)
        .bind(journal_id)
        .bind(amount_fen)
        .bind(points_reversed)
        .bind(points_shortfall)
        .bind(occurred_at)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        for (line_no, amount) in lines {
            sqlx::query("update sale_line set refunded_fen = refunded_fen + $1 where sale_id = $2 and line_no = $3")
                .bind(amount)
                .bind(sale_id)
                .bind(line_no)
                .execute(&mut *self.tx)
                .await?;
        }
        for (payment_no, amount) in payments {
            sqlx::query("update sale_payment set refunded_fen = refunded_fen + $1 where sale_id = $2 and payment_no = $3")
                .bind(amount)
                .bind(sale_id)
                .bind(payment_no)
                .execute(&mut *self.tx)
                .await?;
        }
        sqlx::query("update sale set refunded_fen = refunded_fen + $1, points_reversed = points_reversed + $2 where sale_id = $3")
            .bind(amount_fen)
            .bind(points_reversed)
            .bind(sale_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_recharge(
        &mut self,
        recharge_id: &str,
        station_id: &str,
        pos_txn_id: &str,
        journal_id: &str,
        card_id: &str,
        amount_fen: i64,
        bonus_fen: i64,
        promotion_id: Option<&str>,
        occurred_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into recharge (recharge_id, station_id, pos_txn_id, journal_id, card_id, amount_fen, bonus_fen, promotion_id, occurred_at, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(recharge_id)
        .bind(station_id)
        .bind(pos_txn_id)
        .bind(journal_id)
        .bind(card_id)
        .bind(amount_fen)
        .bind(bonus_fen)
        .bind(promotion_id)
        .bind(occurred_at)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The promotion with the largest bonus that a recharge of `amount_fen` at `at`
    /// qualifies for.
    pub async fn best_promotion(
        &mut self,
        amount_fen: i64,
        at: i64,
    ) -> Result<Option<RechargePromotion>, StoreError> {
        let r = sqlx::query(
            "select promotion_id, name, min_amount_fen, bonus_fen, valid_from, valid_until from recharge_promotion \
             where min_amount_fen <= $1 and valid_from <= $2 and (valid_until is null or valid_until > $2) order by bonus_fen desc, min_amount_fen desc limit 1",
        )
        .bind(amount_fen)
        .bind(at)
        .fetch_optional(&mut *self.tx)
        .await?;
        r.as_ref().map(promotion).transpose()
    }

    pub async fn create_promotion(
        &mut self,
        name: &str,
        min_amount_fen: i64,
        bonus_fen: i64,
        valid_from: i64,
        valid_until: Option<i64>,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into recharge_promotion (promotion_id, name, min_amount_fen, bonus_fen, valid_from, valid_until, created_at) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(name)
        .bind(min_amount_fen)
        .bind(bonus_fen)
        .bind(valid_from)
        .bind(valid_until)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_authorization(
        &mut self,
        id: &str,
        station_id: &str,
        pos_txn_id: &str,
        journal_id: &str,
        card_id: &str,
        pump_no: Option<i64>,
        held_fen: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into authorization_hold (authorization_id, station_id, pos_txn_id, journal_id, card_id, pump_no, held_fen, state, expires_at, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
        )
        .bind(id)
        .bind(station_id)
        .bind(pos_txn_id)
        .bind(journal_id)
        .bind(card_id)
        .bind(pump_no)
        .bind(held_fen)
        .bind(expires_at)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn authorization(&mut self, id: &str) -> Result<Option<Authorization>, StoreError> {
        authorization_by_id(&mut *self.tx, id).await
    }

    /// Moves a pending authorisation to `state`; false if it was no longer pending.
    pub async fn finish_authorization(
        &mut self,
        id: &str,
        state: &str,
        sale_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("update authorization_hold set state = $1, sale_id = $2 where authorization_id = $3 and state = 'pending'")
            .bind(state)
            .bind(sale_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Marks a coupon redeemed by a sale, deferred with the sale's other writes; the
    /// unit is refused (`coupon_invalid`) if another sale redeemed it first.
    pub async fn redeem_coupon_for_sale(
        &mut self,
        code: &str,
        sale_id: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "update coupon set state = 'redeemed', sale_id = $1 where code = $2 and state = 'issued'",
            vec![sale_id.into(), code.into()],
            crate::deferred::Expect::One {
                code: "coupon_invalid",
                message: "the coupon was used by another sale",
            },
        )
        .await
    }

    /// Captures a pump authorisation for a sale, deferred with the sale's other writes;
    /// the unit is refused (`authorization_closed`) if it is no longer pending.
    pub async fn capture_authorization(
        &mut self,
        id: &str,
        sale_id: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "update authorization_hold set state = 'captured', sale_id = $1 where authorization_id = $2 and state = 'pending'",
            vec![sale_id.into(), id.into()],
            crate::deferred::Expect::One {
                code: "authorization_closed",
                message: "the authorisation was closed meanwhile",
            },
        )
        .await
    }

    pub async fn issue_coupon(
        &mut self,
        code: &str,
        customer_id: Option<&str>,
        amount_fen: i64,
        valid_from: i64,
        valid_until: Option<i64>,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into coupon (coupon_id, code, customer_id, amount_fen, valid_from, valid_until, state, created_at) values ($1, $2, $3, $4, $5, $6, 'issued', $7)",
        )
        .bind(&id)
        .bind(code)
        .bind(customer_id)
        .bind(amount_fen)
        .bind(valid_from)
        .bind(valid_until)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn create_user(
        &mut self,
        username: &str,
        password_hash: &str,
        role: &str,
        scope: &str,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query("insert into staff_user (user_id, username, password_hash, role, scope, created_at) values ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(username)
            .bind(password_hash)
            .bind(role)
            .bind(scope)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    pub async fn create_session(
        &mut self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("insert into staff_session (token_hash, user_id, created_at, expires_at, last_seen_at) values ($1, $2, $3, $4, $3)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now_us())
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn revoke_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "update staff_session set revoked_at = $1 where token_hash = $2 and revoked_at is null",
        )
        .bind(now_us())
        .bind(token_hash)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn create_pos_token(
        &mut self,
        token_hash: &str,
        station_id: &str,
        label: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("insert into pos_token (token_hash, station_id, label, created_at) values ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(station_id)
            .bind(label)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

/// A manual adjustment awaiting or past its second approval.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Adjustment {
    pub adjustment_id: String,
    pub target: String,
    pub card_id: Option<String>,
    pub customer_id: Option<String>,
    pub amount: i64,
    pub reason: String,
    pub maker_user_id: String,
    pub checker_user_id: Option<String>,
    pub state: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

const ADJUSTMENT_COLS: &str =
    "adjustment_id, target, card_id, customer_id, amount, reason, maker_user_id, checker_user_id, state, created_at, decided_at";

fn adjustment(r: &AnyRow) -> Result<Adjustment, StoreError> {
    Ok(Adjustment {
        adjustment_id: r.try_get(0)?,
        target: r.try_get(1)?,
        card_id: r.try_get(2)?,
        customer_id: r.try_get(3)?,
        amount: r.try_get(4)?,
        reason: r.try_get(5)?,
        maker_user_id: r.try_get(6)?,
        checker_user_id: r.try_get(7)?,
        state: r.try_get(8)?,
        created_at: r.try_get(9)?,
        decided_at: r.try_get(10)?,
    })
}

/// One line of a credit (挂账) statement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreditMovement {
    pub occurred_at: i64,
    /// sale | refund | payment
    pub kind: String,
    pub reference: Option<String>,
    pub station_code: Option<String>,
    /// Positive: the customer owes more; negative: owes less.
    pub amount_fen: i64,
}

impl Store {
    pub async fn adjustment(&self, id: &str) -> Result<Option<Adjustment>, StoreError> {
        let sql = format!("select {ADJUSTMENT_COLS} from adjustment where adjustment_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(adjustment).transpose()
    }

    pub async fn adjustments(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Adjustment>, StoreError> {
        let sql = format!("select {ADJUSTMENT_COLS} from adjustment where ($1 = '' or state = $1) order by created_at desc limit $2");
        let rows = sqlx::query(&sql)
            .bind(state.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(adjustment).collect()
    }

    /// The credit payment recorded under a journal idempotency key: (id, amount).
    pub async fn credit_payment_by_key(
        &self,
        key: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let r = sqlx::query(
            "select p.credit_payment_id, p.amount_fen from credit_payment p join journal j on j.journal_id = p.journal_id where j.idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(self.read())
        .await?;
        r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// What the customer's credit account owed at `at`.
    pub async fn credit_owed_at(&self, customer_id: &str, at: i64) -> Result<i64, StoreError> {
        let name = forecourt_core::ledger::account::customer_credit(customer_id);
        let r = sqlx::query(
            "select cast(coalesce(sum(case when t.debit_account_id = $1 then t.amount else -t.amount end), 0) as bigint) \
             from transfer t join journal j on j.journal_id = t.journal_id \
             where (t.debit_account_id = $1 or t.credit_account_id = $1) and t.state = 'posted' and j.occurred_at < $2",
        )
        .bind(&name)
        .bind(at)
        .fetch_one(self.read())
        .await?;
        Ok(r.try_get(0)?)
    }

    /// Every movement of the customer's credit account in `[from, to)`, oldest first.
    pub async fn credit_movements(
        &self,
        customer_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<CreditMovement>, StoreError> {
        let name = forecourt_core::ledger::account::customer_credit(customer_id);
        let rows = sqlx::query(
            "select j.occurred_at, j.kind, coalesce(x.sale_id, f.sale_id, p.reference), s.code, \
             case when t.debit_account_id = $1 then t.amount else -t.amount end \
             from transfer t join journal j on j.journal_id = t.journal_id \
             left join sale x on x.journal_id = j.journal_id \
             left join refund f on f.journal_id = j.journal_id \
             left join credit_payment p on p.journal_id = j.journal_id \
             left join station s on s.station_id = j.station_id \
             where (t.debit_account_id = $1 or t.credit_account_id = $1) and t.state = 'posted' and j.occurred_at >= $2 and j.occurred_at < $3 \
             order by j.occurred_at, j.created_at",
        )
        .bind(&name)
        .bind(from)
        .bind(to)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(CreditMovement {
                    occurred_at: r.try_get(0)?,
                    kind: if kind == "credit_payment" {
                        "payment".into()
                    } else {
                        kind
                    },
                    reference: r.try_get(2)?,
                    station_code: r.try_get(3)?,
                    amount_fen: r.try_get(4)?,
                })
            })
            .collect()
    }
}

impl Tx {
    #[allow(clippy::too_many_arguments)]
    pub async fn create_adjustment(
        &mut self,
        target: &str,
        card_id: Option<&str>,
        customer_id: Option<&str>,
        amount: i64,
        reason: &str,
        maker_user_id: &str,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into adjustment (adjustment_id, target, card_id, customer_id, amount, reason, maker_user_id, state, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
        )
        .bind(&id)
        .bind(target)
        .bind(card_id)
        .bind(customer_id)
        .bind(amount)
        .bind(reason)
        .bind(maker_user_id)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Holds a coupon just issued in this transaction back for a second person's
    /// approval: it turns `pending` (no till takes it) and an approval request joins
    /// the adjustments' maker-checker queue under the coupon's own id (target
    /// `coupon`). Returns that id.
    pub async fn hold_coupon_for_approval(
        &mut self,
        code: &str,
        reason: &str,
        maker_user_id: &str,
    ) -> Result<String, StoreError> {
        let row = sqlx::query(
            "select coupon_id, customer_id, amount_fen from coupon where code = $1 and state = 'issued'",
        )
        .bind(code)
        .fetch_optional(&mut *self.tx)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("coupon {code} is not newly issued")))?;
        let id: String = row.try_get(0)?;
        let customer_id: Option<String> = row.try_get(1)?;
        let amount: i64 = row.try_get(2)?;
        sqlx::query("update coupon set state = 'pending' where coupon_id = $1")
            .bind(&id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "insert into adjustment (adjustment_id, target, card_id, customer_id, amount, reason, maker_user_id, state, created_at) \
             values ($1, 'coupon', null, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(&id)
        .bind(customer_id)
        .bind(amount)
        .bind(reason)
        .bind(maker_user_id)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Ends a held coupon's wait: `issued` on approval, `void` on rejection. False if
    /// the coupon was not pending.
    pub async fn decide_held_coupon(
        &mut self,
        coupon_id: &str,
        approve: bool,
    ) -> Result<bool, StoreError> {
        let n =
            sqlx::query("update coupon set state = $1 where coupon_id = $2 and state = 'pending'")
                .bind(if approve { "issued" } else { "void" })
                .bind(coupon_id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    /// The adjustment, with its row locked for the decision.
    pub async fn lock_adjustment(&mut self, id: &str) -> Result<Option<Adjustment>, StoreError> {
        sqlx::query("update adjustment set state = state where adjustment_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        let sql = format!("select {ADJUSTMENT_COLS} from adjustment where adjustment_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(adjustment).transpose()
    }

    pub async fn decide_adjustment(
        &mut self,
        id: &str,
        state: &str,
        checker_user_id: &str,
        journal_id: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update adjustment set state = $1, checker_user_id = $2, journal_id = $3, decided_at = $4 where adjustment_id = $5 and state = 'pending'",
        )
        .bind(state)
        .bind(checker_user_id)
        .bind(journal_id)
        .bind(now_us())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_credit_payment(
        &mut self,
        customer_id: &str,
        journal_id: &str,
        method: &str,
        amount_fen: i64,
        reference: Option<&str>,
        received_at: i64,
        user_id: &str,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into credit_payment (credit_payment_id, customer_id, journal_id, method, amount_fen, reference, received_at, user_id, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(customer_id)
        .bind(journal_id)
        .bind(method)
        .bind(amount_fen)
        .bind(reference)
        .bind(received_at)
        .bind(user_id)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }
}

/// A consent record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Consent {
    pub consent_id: String,
    pub purpose: String,
    pub channel: String,
    pub granted_at: i64,
    pub withdrawn_at: Option<i64>,
    pub recorded_by: Option<String>,
}

/// One movement of a customer's points or a card's money, for export and history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountMovement {
    pub occurred_at: i64,
    pub kind: String,
    pub account: String,
    /// Positive: credited to the customer; negative: taken from them.
    pub amount: i64,
    pub unit: String,
    pub memo: Option<String>,
}

impl Store {
    pub async fn consents(&self, customer_id: &str) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query(
            "select consent_id, purpose, channel, granted_at, withdrawn_at, recorded_by from consent where customer_id = $1 order by granted_at",
        )
        .bind(customer_id)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Consent {
                    consent_id: r.try_get(0)?,
                    purpose: r.try_get(1)?,
                    channel: r.try_get(2)?,
                    granted_at: r.try_get(3)?,
                    withdrawn_at: r.try_get(4)?,
                    recorded_by: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Every posted movement on the named accounts, oldest first (at most `limit`).
    pub async fn account_movements(
        &self,
        accounts: &[String],
        limit: i64,
    ) -> Result<Vec<AccountMovement>, StoreError> {
        let mut out = Vec::new();
        for name in accounts {
            let rows = sqlx::query(
                "select j.occurred_at, j.kind, t.unit, j.memo, case when t.credit_account_id = $1 then t.amount else -t.amount end \
                 from transfer t join journal j on j.journal_id = t.journal_id \
                 where (t.debit_account_id = $1 or t.credit_account_id = $1) and t.state = 'posted' order by j.occurred_at limit $2",
            )
            .bind(name)
            .bind(limit)
            .fetch_all(self.read())
            .await?;
            for r in rows {
                out.push(AccountMovement {
                    occurred_at: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    unit: r.try_get(2)?,
                    memo: r.try_get(3)?,
                    amount: r.try_get(4)?,
                    account: name.clone(),
                });
            }
        }
        out.sort_by_key(|m| m.occurred_at);
        Ok(out)
    }
}

impl Tx {
    /// Records consent to a purpose, or withdraws it (`granted == false`), and keeps the
    /// customer's consent flags in step.
    pub async fn record_consent(
        &mut self,
        customer_id: &str,
        purpose: &str,
        channel: &str,
        granted: bool,
        recorded_by: &str,
    ) -> Result<(), StoreError> {
        let now = now_us();
        if granted {
            let open: Option<String> = sqlx::query_scalar("select consent_id from consent where customer_id = $1 and purpose = $2 and withdrawn_at is null")
                .bind(customer_id)
                .bind(purpose)
                .fetch_optional(&mut *self.tx)
                .await?;
            if open.is_none() {
                sqlx::query(
                    "insert into consent (consent_id, customer_id, purpose, channel, granted_at, recorded_by, created_at) values ($1, $2, $3, $4, $5, $6, $5)",
                )
                .bind(new_id())
                .bind(customer_id)
                .bind(purpose)
                .bind(channel)
                .bind(now)
                .bind(recorded_by)
                .execute(&mut *self.tx)
                .await?;
            }
        } else {
            sqlx::query("update consent set withdrawn_at = $1 where customer_id = $2 and purpose = $3 and withdrawn_at is null")
                .bind(now)
                .bind(customer_id)
                .bind(purpose)
                .execute(&mut *self.tx)
                .await?;
        }
        let column = match purpose {
            "marketing" => "consent_marketing",
            "sensitive" => "consent_sensitive",
            _ => return Ok(()),
        };
        sqlx::query(&format!(
            "update customer set {column} = $1, updated_at = $2 where customer_id = $3"
        ))
        .bind(i64::from(granted))
        .bind(now)
        .bind(customer_id)
        .execute(&mut *self.tx)
        .await?;
        // Withdrawing consent to sensitive data erases the ID number it covered.
        if purpose == "sensitive" && !granted {
            sqlx::query("update customer set id_number_enc = null, id_number_idx = null where customer_id = $1")
                .bind(customer_id)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }
}

/// A table with sealed columns: its name, its id column, and (column, field name) pairs.
type SealedTable = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const SEALED: &[SealedTable] = &[
    (
        "customer",
        "customer_id",
        &[
            ("name_enc", "customer.name"),
            ("phone_enc", "customer.phone"),
            ("id_number_enc", "customer.id_number"),
            ("address_enc", "customer.address"),
        ],
    ),
    (
        "contact",
        "contact_id",
        &[("name_enc", "contact.name"), ("phone_enc", "contact.phone")],
    ),
    ("vehicle", "vehicle_id", &[("plate_enc", "vehicle.plate")]),
];

impl Store {
    /// Re-encrypts every sealed value that is not under the vault's newest key (after a
    /// key rotation), in batches of short transactions. Returns how many values changed.
    pub async fn reencrypt_personal_data(&self) -> Result<usize, StoreError> {
        const BATCH: i64 = 500;
        let vault = self.vault.clone();
        let current = vault.current_version();
        let stale = |v: &str| Vault::version_of(v).is_some_and(|n| n != current);
        let mut changed = 0;
        for (table, id_col, columns) in SEALED {
            for (column, field) in columns.iter() {
                let mut after = String::new();
                loop {
                    let sql = format!("select {id_col}, {column} from {table} where {id_col} > $1 and {column} is not null order by {id_col} limit $2");
                    let rows = sqlx::query(&sql)
                        .bind(&after)
                        .bind(BATCH)
                        .fetch_all(self.read())
                        .await?;
                    if rows.is_empty() {
                        break;
                    }
                    let mut tx = self.begin().await?;
                    for r in &rows {
                        let (id, sealed): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                        if stale(&sealed) {
                            let plain = unseal(&vault, field, &id, &sealed)?;
                            let update =
                                format!("update {table} set {column} = $1 where {id_col} = $2");
                            sqlx::query(&update)
                                .bind(seal(&vault, field, &id, &plain))
                                .bind(&id)
                                .execute(&mut *tx.tx)
                                .await?;
                            changed += 1;
                        }
                        after = id;
                    }
                    tx.commit().await?;
                }
            }
        }
        // Plates bound in card rules.
        let mut after = String::new();
        loop {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "select card_id, rules from card where card_id > $1 order by card_id limit $2",
            )
            .bind(&after)
            .bind(BATCH)
            .fetch_all(self.read())
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = self.begin().await?;
            for (id, rules) in &rows {
                let mut parsed: CardRules = serde_json::from_str(rules)?;
                if let Some(plate) = parsed.plate.as_mut() {
                    if stale(&plate.value) {
                        plate.value = unseal(&vault, "card.plate", id, &plate.value)?;
                        tx.set_card_rules(id, &parsed).await?;
                        changed += 1;
                    }
                }
                after = id.clone();
            }
            tx.commit().await?;
        }
        Ok(changed)
    }
}

impl Store {
    /// Customers whose personal data is past its retention: not yet anonymised, created
    /// before `cutoff`, with no sale since `cutoff` and no money left on any card.
    pub async fn customers_past_retention(
        &self,
        cutoff: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select c.customer_id from customer c where c.anonymized_at is null and c.created_at < $1 \
             and not exists (select 1 from sale s where s.customer_id = c.customer_id and s.occurred_at >= $1) \
             and not exists (select 1 from card k join account a on a.account_id in ('card:' || k.card_id || ':paid', 'card:' || k.card_id || ':bonus') \
                             where k.customer_id = c.customer_id and a.credits_posted - a.debits_posted + a.debits_pending > 0) \
             order by c.created_at limit $2",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(self.read())
        .await?)
    }
}

impl Tx {
    /// Revokes every live POS token of a station; returns how many.
    pub async fn revoke_pos_tokens(&mut self, station_id: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "update pos_token set revoked_at = $1 where station_id = $2 and revoked_at is null",
        )
        .bind(now_us())
        .bind(station_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }

    /// Disables (or enables) a staff user; disabling ends their sessions.
    pub async fn set_user_disabled(
        &mut self,
        username: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("update staff_user set disabled = $1 where username = $2")
            .bind(i64::from(disabled))
            .bind(username)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if disabled {
            sqlx::query("update staff_session set revoked_at = $1 where revoked_at is null and user_id in (select user_id from staff_user where username = $2)")
                .bind(now_us())
                .bind(username)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(n == 1)
    }

    /// Sets a new password hash, clears the lockout and ends the user's sessions.
    pub async fn set_password(
        &mut self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("update staff_user set password_hash = $1, failed_logins = 0, locked_until = null where username = $2")
            .bind(password_hash)
            .bind(username)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        sqlx::query("update staff_session set revoked_at = $1 where revoked_at is null and user_id in (select user_id from staff_user where username = $2)")
            .bind(now_us())
            .bind(username)
            .execute(&mut *self.tx)
            .await?;
        Ok(n == 1)
    }
}

impl Tx {
    /// Revokes a station's live POS tokens with this label (the import's own tokens).
    pub async fn revoke_pos_tokens_labelled(
        &mut self,
        station_id: &str,
        label: &str,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query("update pos_token set revoked_at = $1 where station_id = $2 and label = $3 and revoked_at is null")
            .bind(now_us())
            .bind(station_id)
            .bind(label)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }
}

fn staff_user_row(r: &AnyRow) -> Result<StaffUser, StoreError> {
    Ok(StaffUser {
        user_id: r.try_get(0)?,
        username: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        role: r.try_get(3)?,
        scope: r.try_get(4)?,
        failed_logins: r.try_get(5)?,
        locked_until: r.try_get(6)?,
        disabled: r.try_get::<i64, _>(7)? != 0,
    })
}

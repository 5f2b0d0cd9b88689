//! Storage of leaflet batches and their codes, and of partner merchants, their offers
//! and members' claims (SPEC F7, issue 17 items 5-6).
//!
//! Single use: a unique leaflet code is spent by one conditional update
//! (`customer_id is null`) and a partner's redemption code by another
//! (`state = 'claimed'`), each inside the caller's transaction, so of two concurrent
//! requests with one code exactly one changes the row (PostgreSQL re-reads the row
//! after the first commits; SQLite has one writer).

use crate::personal::{seal, unseal_opt};
use crate::{new_id, Store, StoreError, Tx};
use sqlx::Row;

/// A leaflet batch to store.
#[derive(Debug, Clone)]
pub struct NewBatch<'a> {
    pub name: &'a str,
    pub dropped_on: &'a str,
    pub quantity: i64,
    pub cost_fen: i64,
    pub coupon_template_id: Option<&'a str>,
    /// `unique` or `public`
    pub code_kind: &'a str,
    pub station_ids: &'a [String],
    pub created_by: &'a str,
    pub created_at: i64,
}

/// A stored leaflet batch with its stations (ids) and what its funnel counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    pub batch_id: String,
    pub name: String,
    pub dropped_on: String,
    pub quantity: i64,
    pub cost_fen: i64,
    pub coupon_template_id: Option<String>,
    pub code_kind: String,
    pub created_at: i64,
    pub station_ids: Vec<String>,
    /// The public code of a `public` batch.
    pub public_code: Option<String>,
}

/// What the store counts of a batch's funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunnelRow {
    pub signed_up: i64,
    pub first_sale: i64,
    pub spend_fen: i64,
}

/// A code as the counter looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub code: String,
    pub batch_id: String,
    pub public: bool,
    pub customer_id: Option<String>,
    pub used_at: Option<i64>,
}

/// A stored partner merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRow {
    pub partner_id: String,
    pub name: String,
    pub category: String,
    pub contact: Option<String>,
    pub active: bool,
    pub has_key: bool,
    pub created_at: i64,
}

/// An offer to store.
#[derive(Debug, Clone)]
pub struct NewOffer<'a> {
    pub partner_id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub valid_from: &'a str,
    pub valid_until: &'a str,
    pub per_member_limit: i64,
    /// JSON list of tier codes.
    pub tiers: &'a str,
    pub created_at: i64,
}

/// A stored offer, with its partner's name and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferRow {
    pub offer_id: String,
    pub partner_id: String,
    pub partner_name: String,
    pub partner_category: String,
    pub partner_active: bool,
    pub title: String,
    pub description: String,
    pub valid_from: String,
    pub valid_until: String,
    pub per_member_limit: i64,
    pub tiers: String,
    pub active: bool,
    pub created_at: i64,
}

/// A claim to store.
#[derive(Debug, Clone)]
pub struct NewClaim<'a> {
    pub offer_id: &'a str,
    pub partner_id: &'a str,
    pub customer_id: &'a str,
    pub code: &'a str,
    pub claimed_at: i64,
    pub expires_at: i64,
}

/// A member's claim, with its offer's title and its partner's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    pub claim_id: String,
    pub offer_id: String,
    pub offer_title: String,
    pub partner_id: String,
    pub partner_name: String,
    pub customer_id: String,
    pub code: String,
    /// claimed | redeemed
    pub state: String,
    pub claimed_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
}

const BATCH_COLS: &str = "b.batch_id, b.name, b.dropped_on, b.quantity, b.cost_fen, b.coupon_template_id, b.code_kind, b.created_at, \
     (select min(c.code) from leaflet_code c where c.batch_id = b.batch_id and c.public = 1)";
const PARTNER_COLS: &str =
    "partner_id, name, category, contact_enc, active, case when key_hash is null then 0 else 1 end, created_at";
const OFFER_SELECT: &str = "select o.offer_id, o.partner_id, p.name, p.category, p.active, o.title, o.description, o.valid_from, o.valid_until, \
     o.per_member_limit, o.tiers, o.active, o.created_at from partner_offer o join partner p on p.partner_id = o.partner_id";
const CLAIM_SELECT: &str = "select c.claim_id, c.offer_id, o.title, c.partner_id, p.name, c.customer_id, c.code, c.state, c.claimed_at, c.expires_at, c.redeemed_at \
     from partner_claim c join partner_offer o on o.offer_id = c.offer_id join partner p on p.partner_id = c.partner_id";

fn batch(r: &sqlx::any::AnyRow) -> Result<BatchRow, StoreError> {
    Ok(BatchRow {
        batch_id: r.try_get(0)?,
        name: r.try_get(1)?,
        dropped_on: r.try_get(2)?,
        quantity: r.try_get(3)?,
        cost_fen: r.try_get(4)?,
        coupon_template_id: r.try_get(5)?,
        code_kind: r.try_get(6)?,
        created_at: r.try_get(7)?,
        station_ids: Vec::new(),
        public_code: r.try_get(8)?,
    })
}

fn partner(vault: &crate::Vault, r: &sqlx::any::AnyRow) -> Result<PartnerRow, StoreError> {
    let id: String = r.try_get(0)?;
    Ok(PartnerRow {
        contact: unseal_opt(vault, "partner.contact", &id, r.try_get(3)?)?,
        partner_id: id,
        name: r.try_get(1)?,
        category: r.try_get(2)?,
        active: r.try_get::<i64, _>(4)? != 0,
        has_key: r.try_get::<i64, _>(5)? != 0,
        created_at: r.try_get(6)?,
    })
}

fn offer(r: &sqlx::any::AnyRow) -> Result<OfferRow, StoreError> {
    Ok(OfferRow {
        offer_id: r.try_get(0)?,
        partner_id: r.try_get(1)?,
        partner_name: r.try_get(2)?,
        partner_category: r.try_get(3)?,
        partner_active: r.try_get::<i64, _>(4)? != 0,
        title: r.try_get(5)?,
        description: r.try_get(6)?,
        valid_from: r.try_get(7)?,
        valid_until: r.try_get(8)?,
        per_member_limit: r.try_get(9)?,
        tiers: r.try_get(10)?,
        active: r.try_get::<i64, _>(11)? != 0,
        created_at: r.try_get(12)?,
    })
}

fn claim(r: &sqlx::any::AnyRow) -> Result<ClaimRow, StoreError> {
    Ok(ClaimRow {
        claim_id: r.try_get(0)?,
        offer_id: r.try_get(1)?,
        offer_title: r.try_get(2)?,
        partner_id: r.try_get(3)?,
        partner_name: r.try_get(4)?,
        customer_id: r.try_get(5)?,
        code: r.try_get(6)?,
        state: r.try_get(7)?,
        claimed_at: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        redeemed_at: r.try_get(10)?,
    })
}

impl Store {
    async fn with_stations(&self, mut rows: Vec<BatchRow>) -> Result<Vec<BatchRow>, StoreError> {
        let links = sqlx::query("select batch_id, station_id from leaflet_batch_station")
            .fetch_all(self.read())
            .await?;
        for l in &links {
            let b: String = l.try_get(0)?;
            let s: String = l.try_get(1)?;
            if let Some(row) = rows.iter_mut().find(|r| r.batch_id == b) {
                row.station_ids.push(s);
            }
        }
        for r in &mut rows {
            r.station_ids.sort();
        }
        Ok(rows)
    }

    /// Every leaflet batch, newest drop first, with its stations.
    pub async fn leaflet_batches(&self) -> Result<Vec<BatchRow>, StoreError> {
        let sql = format!(
            "select {BATCH_COLS} from leaflet_batch b order by b.dropped_on desc, b.created_at desc, b.batch_id"
        );
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        let rows = rows.iter().map(batch).collect::<Result<Vec<_>, _>>()?;
        self.with_stations(rows).await
    }

    pub async fn leaflet_batch(&self, id: &str) -> Result<Option<BatchRow>, StoreError> {
        let sql = format!("select {BATCH_COLS} from leaflet_batch b where b.batch_id = $1");
        let Some(r) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?
        else {
            return Ok(None);
        };
        let mut row = batch(&r)?;
        row.station_ids = sqlx::query_scalar(
            "select station_id from leaflet_batch_station where batch_id = $1 order by station_id",
        )
        .bind(id)
        .fetch_all(self.read())
        .await?;
        Ok(Some(row))
    }

    /// A batch's codes in the order they were made, with whether each is spent.
    pub async fn leaflet_codes(&self, batch_id: &str) -> Result<Vec<(String, bool)>, StoreError> {
        let rows = sqlx::query(
            "select code, case when customer_id is null then 0 else 1 end from leaflet_code where batch_id = $1 order by code",
        )
        .bind(batch_id)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0)))
            .collect()
    }

    /// Sign-ups of a batch, how many of them bought since, and what they spent (net of
    /// refunds).
    pub async fn leaflet_funnel(&self, batch_id: &str) -> Result<FunnelRow, StoreError> {
        let r = sqlx::query(
            "select count(*), cast(coalesce(sum(case when s.n > 0 then 1 else 0 end), 0) as bigint), \
             cast(coalesce(sum(s.spend), 0) as bigint) from leaflet_signup l \
             left join (select customer_id, count(*) as n, sum(net_fen - refunded_fen) as spend from sale \
               where customer_id in (select customer_id from leaflet_signup where batch_id = $1) group by customer_id) s \
             on s.customer_id = l.customer_id where l.batch_id = $1",
        )
        .bind(batch_id)
        .fetch_one(self.read())
        .await?;
        Ok(FunnelRow {
            signed_up: r.try_get(0)?,
            first_sale: r.try_get(1)?,
            spend_fen: r.try_get(2)?,
        })
    }

    /// The leaflet batch a customer signed up with, if any, and the code.
    pub async fn leaflet_signup_of(
        &self,
        customer_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let r = sqlx::query("select batch_id, code from leaflet_signup where customer_id = $1")
            .bind(customer_id)
            .fetch_optional(self.read())
            .await?;
        r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    pub async fn partners(&self) -> Result<Vec<PartnerRow>, StoreError> {
        let sql = format!("select {PARTNER_COLS} from partner order by name, partner_id");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(|r| partner(self.vault(), r)).collect()
    }

    pub async fn partner(&self, id: &str) -> Result<Option<PartnerRow>, StoreError> {
        let sql = format!("select {PARTNER_COLS} from partner where partner_id = $1");
        let r = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        r.as_ref().map(|r| partner(self.vault(), r)).transpose()
    }

    /// The active partner whose API key hashes to `key_hash`.
    pub async fn partner_by_key(&self, key_hash: &str) -> Result<Option<PartnerRow>, StoreError> {
        let sql = format!("select {PARTNER_COLS} from partner where key_hash = $1 and active = 1");
        let r = sqlx::query(&sql)
            .bind(key_hash)
            .fetch_optional(self.read())
            .await?;
        r.as_ref().map(|r| partner(self.vault(), r)).transpose()
    }

    /// Offers, of one partner or of all, newest first.
    pub async fn partner_offers(
        &self,
        partner_id: Option<&str>,
    ) -> Result<Vec<OfferRow>, StoreError> {
        let order = "order by o.created_at desc, o.offer_id";
        let rows = match partner_id {
            Some(p) => {
                sqlx::query(&format!("{OFFER_SELECT} where o.partner_id = $1 {order}"))
                    .bind(p)
                    .fetch_all(self.read())
                    .await?
            }
            None => {
                sqlx::query(&format!("{OFFER_SELECT} {order}"))
                    .fetch_all(self.read())
                    .await?
            }
        };
        rows.iter().map(offer).collect()
    }

    pub async fn partner_offer(&self, id: &str) -> Result<Option<OfferRow>, StoreError> {
        let sql = format!("{OFFER_SELECT} where o.offer_id = $1");
        let r = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        r.as_ref().map(offer).transpose()
    }

    /// A member's claims, newest first.
    pub async fn claims_of_customer(&self, customer_id: &str) -> Result<Vec<ClaimRow>, StoreError> {
        let sql = format!(
            "{CLAIM_SELECT} where c.customer_id = $1 order by c.claimed_at desc, c.claim_id"
        );
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(claim).collect()
    }

    /// A partner's redemptions in `[from, to)`, oldest first.
    pub async fn partner_redemptions(
        &self,
        partner_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<ClaimRow>, StoreError> {
        let sql = format!(
            "{CLAIM_SELECT} where c.partner_id = $1 and c.state = 'redeemed' and c.redeemed_at >= $2 and c.redeemed_at < $3 \
             order by c.redeemed_at, c.claim_id"
        );
        let rows = sqlx::query(&sql)
            .bind(partner_id)
            .bind(from)
            .bind(to)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(claim).collect()
    }
}

impl Tx {
    pub async fn create_leaflet_batch(&mut self, b: &NewBatch<'_>) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into leaflet_batch (batch_id, name, dropped_on, quantity, cost_fen, coupon_template_id, code_kind, created_by, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(b.name)
        .bind(b.dropped_on)
        .bind(b.quantity)
        .bind(b.cost_fen)
        .bind(b.coupon_template_id)
        .bind(b.code_kind)
        .bind(b.created_by)
        .bind(b.created_at)
        .execute(&mut *self.tx)
        .await?;
        for s in b.station_ids {
            sqlx::query("insert into leaflet_batch_station (batch_id, station_id) values ($1, $2)")
                .bind(&id)
                .bind(s)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(id)
    }

    /// Stores a code of a batch; false when the code exists already (the caller draws
    /// another, or refuses a public code in use).
    pub async fn insert_leaflet_code(
        &mut self,
        code: &str,
        batch_id: &str,
        public: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "insert into leaflet_code (code, batch_id, public) values ($1, $2, $3) on conflict (code) do nothing",
        )
        .bind(code)
        .bind(batch_id)
        .bind(i64::from(public))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The coupon template a batch gives each sign-up, if any.
    pub async fn leaflet_batch_coupon(
        &mut self,
        batch_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let r: Option<Option<String>> =
            sqlx::query_scalar("select coupon_template_id from leaflet_batch where batch_id = $1")
                .bind(batch_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(r.flatten())
    }

    pub async fn leaflet_code(&mut self, code: &str) -> Result<Option<CodeRow>, StoreError> {
        let r = sqlx::query(
            "select code, batch_id, public, customer_id, used_at from leaflet_code where code = $1",
        )
        .bind(code)
        .fetch_optional(&mut *self.tx)
        .await?;
        r.map(|r| {
            Ok(CodeRow {
                code: r.try_get(0)?,
                batch_id: r.try_get(1)?,
                public: r.try_get::<i64, _>(2)? != 0,
                customer_id: r.try_get(3)?,
                used_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Spends a unique code for a customer; false when it was spent already (by a
    /// concurrent request too).
    pub async fn spend_leaflet_code(
        &mut self,
        code: &str,
        customer_id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update leaflet_code set customer_id = $2, used_at = $3 where code = $1 and public = 0 and customer_id is null",
        )
        .bind(code)
        .bind(customer_id)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_leaflet_signup(
        &mut self,
        customer_id: &str,
        batch_id: &str,
        code: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into leaflet_signup (customer_id, batch_id, code, signed_up_at) values ($1, $2, $3, $4)",
        )
        .bind(customer_id)
        .bind(batch_id)
        .bind(code)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn create_partner(
        &mut self,
        name: &str,
        category: &str,
        contact: Option<&str>,
        key_hash: &str,
        at: i64,
    ) -> Result<String, StoreError> {
        let id = new_id();
        let contact = contact.map(|c| seal(&self.vault, "partner.contact", &id, c));
        sqlx::query(
            "insert into partner (partner_id, name, category, contact_enc, active, key_hash, created_at) values ($1, $2, $3, $4, 1, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(category)
        .bind(contact)
        .bind(key_hash)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Replaces a partner's API key (the old one stops working); false for no partner.
    pub async fn set_partner_key(&mut self, id: &str, key_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("update partner set key_hash = $2 where partner_id = $1")
            .bind(id)
            .bind(key_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_partner_active(&mut self, id: &str, active: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("update partner set active = $2 where partner_id = $1")
            .bind(id)
            .bind(i64::from(active))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_offer(&mut self, o: &NewOffer<'_>) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into partner_offer (offer_id, partner_id, title, description, valid_from, valid_until, per_member_limit, tiers, active, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)",
        )
        .bind(&id)
        .bind(o.partner_id)
        .bind(o.title)
        .bind(o.description)
        .bind(o.valid_from)
        .bind(o.valid_until)
        .bind(o.per_member_limit)
        .bind(o.tiers)
        .bind(o.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// How many times a customer claimed an offer.
    pub async fn claims_count(
        &mut self,
        customer_id: &str,
        offer_id: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "select count(*) from partner_claim where customer_id = $1 and offer_id = $2",
        )
        .bind(customer_id)
        .bind(offer_id)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Stores a claim; false when its code exists already (the caller draws another).
    pub async fn insert_claim(&mut self, c: &NewClaim<'_>) -> Result<Option<String>, StoreError> {
        let id = new_id();
        let done = sqlx::query(
            "insert into partner_claim (claim_id, offer_id, partner_id, customer_id, code, state, claimed_at, expires_at) \
             values ($1, $2, $3, $4, $5, 'claimed', $6, $7) on conflict (code) do nothing",
        )
        .bind(&id)
        .bind(c.offer_id)
        .bind(c.partner_id)
        .bind(c.customer_id)
        .bind(c.code)
        .bind(c.claimed_at)
        .bind(c.expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok((done.rows_affected() == 1).then_some(id))
    }

    /// Redeems a partner's claimed, unexpired code at `at`; false when it is not that
    /// partner's, was redeemed already (by a concurrent request too) or has expired.
    pub async fn redeem_claim(
        &mut self,
        partner_id: &str,
        code: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update partner_claim set state = 'redeemed', redeemed_at = $3 \
             where code = $2 and partner_id = $1 and state = 'claimed' and expires_at > $3",
        )
        .bind(partner_id)
        .bind(code)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn claim_by_code(&mut self, code: &str) -> Result<Option<ClaimRow>, StoreError> {
        let sql = format!("{CLAIM_SELECT} where c.code = $1");
        let r = sqlx::query(&sql)
            .bind(code)
            .fetch_optional(&mut *self.tx)
            .await?;
        r.as_ref().map(claim).transpose()
    }
}

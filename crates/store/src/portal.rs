//! Storage of the member portal: members' portal passwords with their lockout, portal
//! sessions (kept as hashes of their tokens), and the reads the portal's pages need
//! beyond the staff queries (the prices in force at every station).

use crate::personal::phone_index;
use crate::{now_us, Store, StoreError, Tx};
use sqlx::Row;

/// A member's portal password and its lockout.
#[derive(Debug, Clone)]
pub struct MemberCredential {
    pub customer_id: String,
    /// argon2id, PHC string.
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
}

/// A price in force at a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentPrice {
    pub station_id: String,
    pub product_code: String,
    pub product_name: String,
    /// fuel | ev | service | non_fuel
    pub product_kind: String,
    pub unit_price_fen: i64,
    pub effective_from: i64,
}

const CREDENTIAL_COLS: &str = "m.customer_id, m.password_hash, m.failed_logins, m.locked_until";

fn credential(r: &sqlx::any::AnyRow) -> Result<MemberCredential, StoreError> {
    Ok(MemberCredential {
        customer_id: r.try_get(0)?,
        password_hash: r.try_get(1)?,
        failed_logins: r.try_get(2)?,
        locked_until: r.try_get(3)?,
    })
}

/// The most members one phone number may sign in as: a phone is normally one member's,
/// and each candidate costs a password check.
const PHONE_CANDIDATES_MAX: i64 = 3;

impl Store {
    /// The portal password of a member, if one was set.
    pub async fn member_credential(
        &self,
        customer_id: &str,
    ) -> Result<Option<MemberCredential>, StoreError> {
        let sql =
            format!("select {CREDENTIAL_COLS} from member_credential m where m.customer_id = $1");
        let row = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(credential).transpose()
    }

    /// The portal passwords of the members (not anonymised) whose own phone is `phone`
    /// (normalised, as `Phone` writes it), oldest member first.
    pub async fn member_credentials_by_phone(
        &self,
        phone: &str,
    ) -> Result<Vec<MemberCredential>, StoreError> {
        let sql = format!(
            "select {CREDENTIAL_COLS} from member_credential m join customer c on c.customer_id = m.customer_id \
             where c.phone_idx = $1 and c.anonymized_at is null order by c.created_at, c.customer_id limit $2"
        );
        let rows = sqlx::query(&sql)
            .bind(phone_index(self.vault(), phone))
            .bind(PHONE_CANDIDATES_MAX)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(credential).collect()
    }

    /// The member of a live portal session: not revoked, before its absolute expiry,
    /// used within `idle_us`, of a member not anonymised. Marks the session as used (at
    /// most once a minute, so that reads stay cheap).
    pub async fn member_session(
        &self,
        token_hash: &str,
        now: i64,
        idle_us: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "select s.customer_id, s.last_seen_at from member_session s join customer c on c.customer_id = s.customer_id \
             where s.token_hash = $1 and s.revoked_at is null and s.expires_at > $2 and s.last_seen_at > $3 and c.anonymized_at is null",
        )
        .bind(token_hash)
        .bind(now)
        .bind(now - idle_us)
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (customer_id, last_seen): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if now - last_seen > 60_000_000 {
            sqlx::query("update member_session set last_seen_at = $1 where token_hash = $2")
                .bind(now)
                .bind(token_hash)
                .execute(&self.write)
                .await?;
        }
        Ok(Some(customer_id))
    }

    /// The individual member (not anonymised, with a phone) with an active personal card
    /// who bought the most, and that card's number: `(customer_id, card_no)`. The demo
    /// signs in to the portal as this member.
    pub async fn busiest_member_with_personal_card(
        &self,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "select c.customer_id, k.card_no from customer c join card k on k.customer_id = c.customer_id \
             left join (select customer_id, count(*) n from sale where customer_id is not null group by customer_id) s on s.customer_id = c.customer_id \
             where c.kind = 'individual' and c.anonymized_at is null and c.phone_idx is not null and k.kind = 'personal' and k.state = 'active' \
             order by coalesce(s.n, 0) desc, k.card_no limit 1",
        )
        .fetch_optional(self.read())
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// The price in force at `at` of every product at every station, by station and
    /// product code.
    pub async fn current_prices(&self, at: i64) -> Result<Vec<CurrentPrice>, StoreError> {
        let rows = sqlx::query(
            "select x.station_id, p.code, p.name, p.kind, x.unit_price_fen, x.effective_from from price x \
             join product p on p.product_id = x.product_id \
             where x.effective_from = (select max(y.effective_from) from price y \
               where y.station_id = x.station_id and y.product_id = x.product_id and y.effective_from <= $1) \
             order by x.station_id, p.code, x.created_at desc, x.price_id desc",
        )
        .bind(at)
        .fetch_all(self.read())
        .await?;
        let mut out: Vec<CurrentPrice> = Vec::with_capacity(rows.len());
        for r in &rows {
            let p = CurrentPrice {
                station_id: r.try_get(0)?,
                product_code: r.try_get(1)?,
                product_name: r.try_get(2)?,
                product_kind: r.try_get(3)?,
                unit_price_fen: r.try_get(4)?,
                effective_from: r.try_get(5)?,
            };
            // Two prices of the same moment: the one written last is in force.
            let twin = out
                .last()
                .is_some_and(|q| q.station_id == p.station_id && q.product_code == p.product_code);
            if !twin {
                out.push(p);
            }
        }
        Ok(out)
    }
}

impl Tx {
    /// Sets (or with `None` removes) a member's portal password. Either way the lockout
    /// is cleared.
    pub async fn set_member_password(
        &mut self,
        customer_id: &str,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        match password_hash {
            Some(hash) => {
                sqlx::query(
                    "insert into member_credential (customer_id, password_hash, failed_logins, locked_until, created_at, updated_at) \
                     values ($1, $2, 0, null, $3, $3) on conflict (customer_id) do update set password_hash = excluded.password_hash, \
                     failed_logins = 0, locked_until = null, updated_at = excluded.updated_at",
                )
                .bind(customer_id)
                .bind(hash)
                .bind(now_us())
                .execute(&mut *self.tx)
                .await?;
            }
            None => {
                sqlx::query("delete from member_credential where customer_id = $1")
                    .bind(customer_id)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn create_member_session(
        &mut self,
        token_hash: &str,
        customer_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("insert into member_session (token_hash, customer_id, created_at, expires_at, last_seen_at) values ($1, $2, $3, $4, $3)")
            .bind(token_hash)
            .bind(customer_id)
            .bind(now_us())
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn revoke_member_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "update member_session set revoked_at = $1 where token_hash = $2 and revoked_at is null",
        )
        .bind(now_us())
        .bind(token_hash)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Ends every live portal session of a member but `keep` (a token hash).
    pub async fn revoke_member_sessions(
        &mut self,
        customer_id: &str,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "update member_session set revoked_at = $1 where customer_id = $2 and revoked_at is null and token_hash <> $3",
        )
        .bind(now_us())
        .bind(customer_id)
        .bind(keep.unwrap_or(""))
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }
}

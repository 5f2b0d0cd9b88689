//! Storage of surveys (SPEC "Service desk"): questionnaires, single-use invitations
//! (tokens kept as their SHA-256), answers, and where staff receive the service desk's
//! alerts (`staff_contact`).
//!
//! Single use: an invitation is spent by one conditional update (`state = 'pending'`),
//! in the transaction that stores the answer, so of two concurrent answers on one token
//! exactly one is stored (PostgreSQL re-reads the row after the first commits; SQLite
//! has one writer).

use crate::personal::{seal, unseal, unseal_opt};
use crate::{new_id, Store, StoreError, Tx};
use sqlx::Row;

/// A stored survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyRow {
    pub survey_id: String,
    pub name: String,
    /// JSON, as the application wrote it.
    pub questions: String,
    pub after_ticket_close: bool,
    pub created_by: String,
    pub created_at: i64,
}

/// A survey to store.
#[derive(Debug, Clone)]
pub struct NewSurvey<'a> {
    pub name: &'a str,
    pub questions: &'a str,
    pub after_ticket_close: bool,
    pub created_by: &'a str,
    pub created_at: i64,
}

/// An invitation to store.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub survey_id: &'a str,
    pub customer_id: &'a str,
    pub token_hash: &'a str,
    pub station_id: Option<&'a str>,
    pub ticket_id: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A stored invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    pub invitation_id: String,
    pub survey_id: String,
    pub customer_id: String,
    pub station_id: Option<String>,
    pub ticket_id: Option<String>,
    /// pending | answered | declined
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a customer did with surveys so far: the latest answer and decline, and whether
/// an invitation to the given survey is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyHistory {
    pub last_answered_at: Option<i64>,
    pub last_declined_at: Option<i64>,
    pub pending_same_survey: bool,
}

/// One answer as the results count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRow {
    pub station_id: Option<String>,
    pub station_code: Option<String>,
    pub region_code: Option<String>,
    pub nps: Option<i64>,
    pub rating: Option<i64>,
    pub answered_at: i64,
}

/// A staff user's contact details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffContact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The most responses one result reads.
pub const RESULTS_ROWS_MAX: i64 = 200_000;

const SURVEY_COLS: &str = "survey_id, name, questions, after_ticket_close, created_by, created_at";
const INVITATION_COLS: &str =
    "invitation_id, survey_id, customer_id, station_id, ticket_id, state, created_at, expires_at";

fn survey(r: &sqlx::any::AnyRow) -> Result<SurveyRow, StoreError> {
    Ok(SurveyRow {
        survey_id: r.try_get(0)?,
        name: r.try_get(1)?,
        questions: r.try_get(2)?,
        after_ticket_close: r.try_get::<i64, _>(3)? != 0,
        created_by: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

fn invitation(r: &sqlx::any::AnyRow) -> Result<InvitationRow, StoreError> {
    Ok(InvitationRow {
        invitation_id: r.try_get(0)?,
        survey_id: r.try_get(1)?,
        customer_id: r.try_get(2)?,
        station_id: r.try_get(3)?,
        ticket_id: r.try_get(4)?,
        state: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
    })
}

impl Store {
    /// The customers who bought at a station since `since_us`, most recent first, at
    /// most `limit` (anonymized customers left out).
    pub async fn recent_customers_at(
        &self,
        station_id: &str,
        since_us: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select s.customer_id from sale s join customer c on c.customer_id = s.customer_id \
             where s.station_id = $1 and s.occurred_at >= $2 and c.anonymized_at is null \
             group by s.customer_id order by max(s.occurred_at) desc, s.customer_id limit $3",
        )
        .bind(station_id)
        .bind(since_us)
        .bind(limit)
        .fetch_all(self.read())
        .await?)
    }

    /// Every survey, newest first.
    pub async fn surveys(&self) -> Result<Vec<SurveyRow>, StoreError> {
        let sql = format!("select {SURVEY_COLS} from survey order by created_at desc, survey_id");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(survey).collect()
    }

    pub async fn survey(&self, id: &str) -> Result<Option<SurveyRow>, StoreError> {
        let sql = format!("select {SURVEY_COLS} from survey where survey_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(survey).transpose()
    }

    /// The answers to a survey, with the station and region each is counted for,
    /// oldest first.
    pub async fn survey_responses(&self, survey_id: &str) -> Result<Vec<ResponseRow>, StoreError> {
        let rows = sqlx::query(
            "select r.station_id, s.code, g.code, r.nps, r.rating, r.answered_at from survey_response r \
             left join station s on s.station_id = r.station_id left join region g on g.region_id = s.region_id \
             where r.survey_id = $1 order by r.answered_at, r.invitation_id limit $2",
        )
        .bind(survey_id)
        .bind(RESULTS_ROWS_MAX)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ResponseRow {
                    station_id: r.try_get(0)?,
                    station_code: r.try_get(1)?,
                    region_code: r.try_get(2)?,
                    nps: r.try_get(3)?,
                    rating: r.try_get(4)?,
                    answered_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Where a staff user receives alerts (both `None` when never set).
    pub async fn staff_contact(&self, user_id: &str) -> Result<StaffContact, StoreError> {
        let row = sqlx::query("select email_enc, phone_enc from staff_contact where user_id = $1")
            .bind(user_id)
            .fetch_optional(self.read())
            .await?;
        let Some(r) = row else {
            return Ok(StaffContact::default());
        };
        Ok(StaffContact {
            email: unseal_opt(self.vault(), "staff_contact.email", user_id, r.try_get(0)?)?,
            phone: unseal_opt(self.vault(), "staff_contact.phone", user_id, r.try_get(1)?)?,
        })
    }
}

impl Tx {
    /// Sets (replaces) a staff user's email and phone.
    pub async fn set_staff_contact(
        &mut self,
        user_id: &str,
        c: &StaffContact,
        now: i64,
    ) -> Result<(), StoreError> {
        let email = c
            .email
            .as_deref()
            .map(|e| seal(&self.vault, "staff_contact.email", user_id, e));
        let phone = c
            .phone
            .as_deref()
            .map(|p| seal(&self.vault, "staff_contact.phone", user_id, p));
        sqlx::query(
            "insert into staff_contact (user_id, email_enc, phone_enc, updated_at) values ($1, $2, $3, $4) \
             on conflict (user_id) do update set email_enc = excluded.email_enc, phone_enc = excluded.phone_enc, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(email)
        .bind(phone)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn create_survey(&mut self, s: &NewSurvey<'_>) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into survey (survey_id, name, questions, after_ticket_close, created_by, created_at) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(s.name)
        .bind(s.questions)
        .bind(i64::from(s.after_ticket_close))
        .bind(s.created_by)
        .bind(s.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn survey(&mut self, id: &str) -> Result<Option<SurveyRow>, StoreError> {
        let sql = format!("select {SURVEY_COLS} from survey where survey_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(survey).transpose()
    }

    /// The survey sent when a ticket closes: the newest marked so, if any.
    pub async fn survey_after_ticket_close(&mut self) -> Result<Option<SurveyRow>, StoreError> {
        let sql = format!(
            "select {SURVEY_COLS} from survey where after_ticket_close = 1 order by created_at desc, survey_id desc limit 1"
        );
        let row = sqlx::query(&sql).fetch_optional(&mut *self.tx).await?;
        row.as_ref().map(survey).transpose()
    }

    /// A customer's latest answer and decline (to any survey), and whether an invitation
    /// to `survey_id` is pending and unexpired at `now`.
    pub async fn survey_history(
        &mut self,
        customer_id: &str,
        survey_id: &str,
        now: i64,
    ) -> Result<SurveyHistory, StoreError> {
        let r = sqlx::query(
            "select max(answered_at), max(declined_at), \
             cast(coalesce(sum(case when survey_id = $2 and state = 'pending' and expires_at > $3 then 1 else 0 end), 0) as bigint) \
             from survey_invitation where customer_id = $1",
        )
        .bind(customer_id)
        .bind(survey_id)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(SurveyHistory {
            last_answered_at: r.try_get(0)?,
            last_declined_at: r.try_get(1)?,
            pending_same_survey: r.try_get::<i64, _>(2)? > 0,
        })
    }

    /// Locks the customer's row for the rest of the transaction (a no-op update), so
    /// that two invitations of one customer decide one after the other.
    pub async fn lock_customer_for_survey(
        &mut self,
        customer_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("update customer set kind = kind where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_invitation(&mut self, i: &NewInvitation<'_>) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into survey_invitation (invitation_id, survey_id, customer_id, token_hash, station_id, ticket_id, state, created_at, expires_at) \
             values ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
        )
        .bind(&id)
        .bind(i.survey_id)
        .bind(i.customer_id)
        .bind(i.token_hash)
        .bind(i.station_id)
        .bind(i.ticket_id)
        .bind(i.created_at)
        .bind(i.expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn invitation_by_token_hash(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<InvitationRow>, StoreError> {
        let sql = format!("select {INVITATION_COLS} from survey_invitation where token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(invitation).transpose()
    }

    /// Spends a pending invitation: `answered` or `declined` at `at`. False when it was
    /// spent already (by a concurrent request too): the caller answers 409.
    pub async fn spend_invitation(
        &mut self,
        invitation_id: &str,
        answered: bool,
        at: i64,
    ) -> Result<bool, StoreError> {
        let sql = if answered {
            "update survey_invitation set state = 'answered', answered_at = $2 where invitation_id = $1 and state = 'pending'"
        } else {
            "update survey_invitation set state = 'declined', declined_at = $2 where invitation_id = $1 and state = 'pending'"
        };
        let done = sqlx::query(sql)
            .bind(invitation_id)
            .bind(at)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the answer of a spent invitation (`answers` JSON is sealed).
    pub async fn insert_survey_response(
        &mut self,
        inv: &InvitationRow,
        nps: Option<i64>,
        rating: Option<i64>,
        answers: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let sealed = seal(
            &self.vault,
            "survey_response.answers",
            &inv.invitation_id,
            answers,
        );
        sqlx::query(
            "insert into survey_response (invitation_id, survey_id, station_id, nps, rating, answers_enc, answered_at) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&inv.invitation_id)
        .bind(&inv.survey_id)
        .bind(&inv.station_id)
        .bind(nps)
        .bind(rating)
        .bind(sealed)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The stored answers of one invitation, opened (for exports and tests).
    pub async fn survey_answers(&self, invitation_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select answers_enc from survey_response where invitation_id = $1")
            .bind(invitation_id)
            .fetch_optional(self.read())
            .await?;
        row.map(|r| {
            unseal(
                self.vault(),
                "survey_response.answers",
                invitation_id,
                &r.try_get::<String, _>(0)?,
            )
        })
        .transpose()
    }
}

/// One answer a customer gave, opened (for the personal-data export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAnswer {
    pub survey_name: String,
    pub answered_at: i64,
    /// JSON, as the customer sent it.
    pub answers: String,
}

impl Store {
    /// Every survey answer of a customer, oldest first, opened.
    pub async fn answers_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<CustomerAnswer>, StoreError> {
        let rows = sqlx::query(
            "select r.invitation_id, s.name, r.answered_at, r.answers_enc from survey_response r \
             join survey_invitation i on i.invitation_id = r.invitation_id \
             join survey s on s.survey_id = r.survey_id \
             where i.customer_id = $1 order by r.answered_at, r.invitation_id",
        )
        .bind(customer_id)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                Ok(CustomerAnswer {
                    survey_name: r.try_get(1)?,
                    answered_at: r.try_get(2)?,
                    answers: unseal(
                        self.vault(),
                        "survey_response.answers",
                        &id,
                        &r.try_get::<String, _>(3)?,
                    )?,
                })
            })
            .collect()
    }
}

impl Tx {
    /// Erases what a customer said to the service desk (PIPL erasure): each ticket's
    /// description becomes a placeholder and its steps' notes go; each survey answer's
    /// text becomes `[]` (its NPS and rating stay, unlinked from any person once the
    /// customer is anonymised, so the results still add up); an invitation not yet
    /// answered expires now.
    pub async fn erase_desk_content(
        &mut self,
        customer_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let v = self.vault.clone();
        let tickets: Vec<(String,)> =
            sqlx::query_as("select ticket_id from ticket where customer_id = $1")
                .bind(customer_id)
                .fetch_all(&mut *self.tx)
                .await?;
        for (id,) in tickets {
            sqlx::query("update ticket set description_enc = $1 where ticket_id = $2")
                .bind(seal(&v, "ticket.description", &id, ERASED_TEXT))
                .bind(&id)
                .execute(&mut *self.tx)
                .await?;
            sqlx::query("update ticket_event set note_enc = null where ticket_id = $1")
                .bind(&id)
                .execute(&mut *self.tx)
                .await?;
        }
        let answered: Vec<(String,)> = sqlx::query_as(
            "select invitation_id from survey_invitation where customer_id = $1 and state = 'answered'",
        )
        .bind(customer_id)
        .fetch_all(&mut *self.tx)
        .await?;
        for (id,) in answered {
            sqlx::query("update survey_response set answers_enc = $1 where invitation_id = $2")
                .bind(seal(&v, "survey_response.answers", &id, "[]"))
                .bind(&id)
                .execute(&mut *self.tx)
                .await?;
        }
        sqlx::query(
            "update survey_invitation set expires_at = $1 where customer_id = $2 and state = 'pending' and expires_at > $1",
        )
        .bind(now)
        .bind(customer_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

/// What an erased ticket's description reads.
pub const ERASED_TEXT: &str = "（客户已注销，内容已删除）";

//! Storage of the service desk (SPEC F8): business calendars and the station each one
//! serves, SLA policies per severity, tickets and their events.
//!
//! Calendars are stored as the API writes them (JSON text for the weekly hours and the
//! date lists) and turned into `forecourt_core::business_time::Calendar` by the
//! application; the store only keeps them. A ticket's description and its events' notes
//! are sealed like personal data, because complaints name people, phones and plates.
//!
//! Concurrency: every change of a ticket starts with [`Tx::lock_ticket`] (a row lock on
//! PostgreSQL; SQLite's single writer already serialises) and ends with
//! [`Tx::append_ticket_event`], whose update is conditional on the event count read
//! under that lock and whose `(ticket_id, seq)` key is unique, so two concurrent steps on
//! one ticket can never both be stored.

use crate::personal::{seal, unseal, unseal_opt};
use crate::{new_id, now_us, Store, StoreError, Tx};
use forecourt_core::business_time::{china_holidays, china_make_up_workdays};
use forecourt_core::sla::{Severity, SlaPolicy};
use forecourt_privacy::Vault;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// The code of the calendar a station without one of its own runs on.
pub const DEFAULT_CALENDAR: &str = "default";

/// The most tickets one list returns.
pub const TICKETS_PAGE_MAX: i64 = 500;
/// The most stations one list filters on (a network's scope is far smaller).
pub const STATIONS_FILTER_MAX: usize = 5_000;

/// A stored calendar, as the API wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    pub calendar_id: String,
    pub code: String,
    pub time_zone: String,
    /// JSON: `{"mon": [["08:00","18:00"]], …}` or `"24h"`.
    pub hours: String,
    /// JSON array of `YYYY-MM-DD`.
    pub holidays: String,
    pub workdays: String,
    /// JSON array of `["HH:MM","HH:MM"]`, or `None` for Monday's hours.
    pub workday_hours: Option<String>,
    pub updated_at: i64,
}

/// A calendar to store (created, or replaced by code).
#[derive(Debug, Clone)]
pub struct NewCalendar<'a> {
    pub code: &'a str,
    pub time_zone: &'a str,
    pub hours: &'a str,
    pub holidays: &'a str,
    pub workdays: &'a str,
    pub workday_hours: Option<&'a str>,
}

/// The SLA targets of one severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicyRow {
    pub severity: String,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
}

/// A stored ticket.
#[derive(Debug, Clone)]
pub struct TicketRow {
    pub ticket_id: String,
    pub kind: String,
    pub channel: String,
    pub station_id: String,
    pub station_code: String,
    pub category: String,
    pub severity: String,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    pub customer_id: Option<String>,
    pub description: String,
    pub state: String,
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub escalation_level: i64,
    pub assignee_id: Option<String>,
    /// The assignee's username.
    pub assignee: Option<String>,
    pub opened_by: String,
    pub event_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A ticket to open.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub kind: &'a str,
    pub channel: &'a str,
    pub station_id: &'a str,
    pub category: &'a str,
    pub severity: &'a str,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    pub customer_id: Option<&'a str>,
    pub description: &'a str,
    pub state: &'a str,
    pub opened_at: i64,
    pub opened_by: &'a str,
}

/// One stored step of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEventRow {
    pub seq: i64,
    pub action: String,
    pub author: String,
    pub from_state: String,
    pub to_state: String,
    pub note: Option<String>,
    pub assignee_id: Option<String>,
    /// The assignee's username.
    pub assignee: Option<String>,
    pub csat: Option<i64>,
    pub at: i64,
    pub created_at: i64,
}

/// A step to record, and what it makes of the ticket.
#[derive(Debug, Clone)]
pub struct NewTicketEvent<'a> {
    pub action: &'a str,
    pub author: &'a str,
    pub from_state: &'a str,
    pub to_state: &'a str,
    pub note: Option<&'a str>,
    pub assignee_id: Option<&'a str>,
    pub csat: Option<i64>,
    pub at: i64,
    /// The ticket's fields after the step.
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The assignee after the step.
    pub ticket_assignee_id: Option<&'a str>,
}

/// Which tickets a list returns.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter<'a> {
    /// Only these stations (by id); `None` is every station.
    pub station_ids: Option<&'a [String]>,
    pub state: Option<&'a str>,
    /// Leave out closed tickets.
    pub open_only: bool,
    pub limit: i64,
}

const TICKET_COLS: &str = "t.ticket_id, t.kind, t.channel, t.station_id, s.code, t.category, t.severity, t.customer_id, \
    t.description_enc, t.state, t.opened_at, t.first_response_at, t.resolved_at, t.closed_at, t.escalation_level, \
    t.assignee_id, u.username, t.opened_by, t.event_count, t.created_at, t.updated_at, t.first_response_minutes, t.resolution_minutes";
const TICKET_FROM: &str = "ticket t join station s on s.station_id = t.station_id \
    left join staff_user u on u.user_id = t.assignee_id";

fn ticket(vault: &Vault, r: &AnyRow) -> Result<TicketRow, StoreError> {
    let ticket_id: String = r.try_get(0)?;
    let sealed: String = r.try_get(8)?;
    Ok(TicketRow {
        description: unseal(vault, "ticket.description", &ticket_id, &sealed)?,
        kind: r.try_get(1)?,
        channel: r.try_get(2)?,
        station_id: r.try_get(3)?,
        station_code: r.try_get(4)?,
        category: r.try_get(5)?,
        severity: r.try_get(6)?,
        customer_id: r.try_get(7)?,
        state: r.try_get(9)?,
        opened_at: r.try_get(10)?,
        first_response_at: r.try_get(11)?,
        resolved_at: r.try_get(12)?,
        closed_at: r.try_get(13)?,
        escalation_level: r.try_get(14)?,
        assignee_id: r.try_get(15)?,
        assignee: r.try_get(16)?,
        opened_by: r.try_get(17)?,
        event_count: r.try_get(18)?,
        created_at: r.try_get(19)?,
        updated_at: r.try_get(20)?,
        first_response_minutes: r.try_get(21)?,
        resolution_minutes: r.try_get(22)?,
        ticket_id,
    })
}

async fn ticket_by_id<'e, E: Executor<'e, Database = Any>>(
    db: E,
    vault: &Vault,
    id: &str,
) -> Result<Option<TicketRow>, StoreError> {
    let sql = format!("select {TICKET_COLS} from {TICKET_FROM} where t.ticket_id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db).await?;
    row.as_ref().map(|r| ticket(vault, r)).transpose()
}

async fn events_of<'e, E: Executor<'e, Database = Any>>(
    db: E,
    vault: &Vault,
    ticket_id: &str,
) -> Result<Vec<TicketEventRow>, StoreError> {
    let rows = sqlx::query(
        "select e.seq, e.action, e.author, e.from_state, e.to_state, e.note_enc, e.assignee_id, u.username, e.csat, e.at, e.created_at \
         from ticket_event e left join staff_user u on u.user_id = e.assignee_id where e.ticket_id = $1 order by e.seq",
    )
    .bind(ticket_id)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let seq: i64 = r.try_get(0)?;
            Ok(TicketEventRow {
                note: unseal_opt(
                    vault,
                    "ticket_event.note",
                    &format!("{ticket_id}:{seq}"),
                    r.try_get(5)?,
                )?,
                seq,
                action: r.try_get(1)?,
                author: r.try_get(2)?,
                from_state: r.try_get(3)?,
                to_state: r.try_get(4)?,
                assignee_id: r.try_get(6)?,
                assignee: r.try_get(7)?,
                csat: r.try_get(8)?,
                at: r.try_get(9)?,
                created_at: r.try_get(10)?,
            })
        })
        .collect()
}

const CALENDAR_COLS: &str =
    "c.calendar_id, c.code, c.time_zone, c.hours, c.holidays, c.workdays, c.workday_hours, c.updated_at";

fn calendar(r: &AnyRow) -> Result<CalendarRow, StoreError> {
    Ok(CalendarRow {
        calendar_id: r.try_get(0)?,
        code: r.try_get(1)?,
        time_zone: r.try_get(2)?,
        hours: r.try_get(3)?,
        holidays: r.try_get(4)?,
        workdays: r.try_get(5)?,
        workday_hours: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

fn date_list(dates: impl Iterator<Item = chrono::NaiveDate>) -> Result<String, StoreError> {
    Ok(serde_json::to_string(
        &dates.map(|d| d.to_string()).collect::<Vec<_>>(),
    )?)
}

/// The weekly hours of the default calendar: every day 06:00–22:00, the hours in which
/// a station's staff (and the manager on duty) answer complaints; most stations sell
/// round the clock, but nobody calls a customer back at 3 a.m.
pub const DEFAULT_HOURS: &str = r#"{"mon":[["06:00","22:00"]],"tue":[["06:00","22:00"]],"wed":[["06:00","22:00"]],"thu":[["06:00","22:00"]],"fri":[["06:00","22:00"]],"sat":[["06:00","22:00"]],"sun":[["06:00","22:00"]]}"#;

impl Store {
    pub async fn calendar_by_code(&self, code: &str) -> Result<Option<CalendarRow>, StoreError> {
        let sql = format!("select {CALENDAR_COLS} from calendar c where c.code = $1");
        let row = sqlx::query(&sql)
            .bind(code)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(calendar).transpose()
    }

    /// Every calendar, by code.
    pub async fn calendars(&self) -> Result<Vec<CalendarRow>, StoreError> {
        let sql = format!("select {CALENDAR_COLS} from calendar c order by c.code");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(calendar).collect()
    }

    /// The calendar a station's tickets run on: its own, or the default one.
    pub async fn station_calendar(&self, station_id: &str) -> Result<CalendarRow, StoreError> {
        let sql = format!(
            "select {CALENDAR_COLS} from calendar c where c.calendar_id = \
             coalesce((select x.calendar_id from station_calendar x where x.station_id = $1), \
                      (select d.calendar_id from calendar d where d.code = $2))"
        );
        let row = sqlx::query(&sql)
            .bind(station_id)
            .bind(DEFAULT_CALENDAR)
            .fetch_optional(self.read())
            .await?;
        row.as_ref()
            .map(calendar)
            .transpose()?
            .ok_or(StoreError::NotFound("calendar"))
    }

    pub async fn sla_policies(&self) -> Result<Vec<SlaPolicyRow>, StoreError> {
        let rows = sqlx::query(
            "select severity, first_response_minutes, resolution_minutes from sla_policy order by severity",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlaPolicyRow {
                    severity: r.try_get(0)?,
                    first_response_minutes: r.try_get(1)?,
                    resolution_minutes: r.try_get(2)?,
                })
            })
            .collect()
    }

    pub async fn ticket(&self, id: &str) -> Result<Option<TicketRow>, StoreError> {
        ticket_by_id(self.read(), self.vault(), id).await
    }

    pub async fn ticket_events(&self, id: &str) -> Result<Vec<TicketEventRow>, StoreError> {
        events_of(self.read(), self.vault(), id).await
    }

    /// Tickets newest first (by opening time), at most `filter.limit` (capped at
    /// [`TICKETS_PAGE_MAX`]).
    pub async fn tickets(&self, filter: &TicketFilter<'_>) -> Result<Vec<TicketRow>, StoreError> {
        let mut sql = format!("select {TICKET_COLS} from {TICKET_FROM} where 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if let Some(ids) = filter.station_ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            if ids.len() > STATIONS_FILTER_MAX {
                return Err(StoreError::Domain(forecourt_core::DomainError::invalid(
                    "station",
                    format!("at most {STATIONS_FILTER_MAX} stations"),
                )));
            }
            let marks: Vec<String> = ids.iter().map(|_| next()).collect();
            sql.push_str(&format!(" and t.station_id in ({})", marks.join(", ")));
        }
        if filter.state.is_some() {
            sql.push_str(&format!(" and t.state = {}", next()));
        }
        if filter.open_only {
            sql.push_str(" and t.state <> 'closed'");
        }
        sql.push_str(&format!(
            " order by t.opened_at desc, t.ticket_id desc limit {}",
            next()
        ));
        let mut q = sqlx::query(&sql);
        for id in filter.station_ids.unwrap_or_default() {
            q = q.bind(id);
        }
        if let Some(state) = filter.state {
            q = q.bind(state);
        }
        q = q.bind(filter.limit.clamp(0, TICKETS_PAGE_MAX));
        let rows = q.fetch_all(self.read()).await?;
        rows.iter().map(|r| ticket(self.vault(), r)).collect()
    }

    /// A customer's own tickets, newest first (the member portal's list), at most
    /// `limit` (capped at [`TICKETS_PAGE_MAX`]).
    pub async fn tickets_of_customer(
        &self,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<TicketRow>, StoreError> {
        let sql = format!(
            "select {TICKET_COLS} from {TICKET_FROM} where t.customer_id = $1 \
             order by t.opened_at desc, t.ticket_id desc limit $2"
        );
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .bind(limit.clamp(0, TICKETS_PAGE_MAX))
            .fetch_all(self.read())
            .await?;
        rows.iter().map(|r| ticket(self.vault(), r)).collect()
    }
}

impl Tx {
    /// Locks a customer's row for the rest of the transaction (a row lock on
    /// PostgreSQL; SQLite's single writer already serialises), so that the tickets a
    /// member opens are counted and opened one request after the other. False when the
    /// customer does not exist.
    pub async fn lock_customer_for_tickets(
        &mut self,
        customer_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("update customer set kind = kind where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many tickets of a customer that came in through `channel` were opened at or
    /// after `since` (µs).
    pub async fn count_customer_tickets_since(
        &mut self,
        customer_id: &str,
        channel: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from ticket where customer_id = $1 and channel = $2 and opened_at >= $3",
        )
        .bind(customer_id)
        .bind(channel)
        .bind(since)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n)
    }

    pub async fn calendar_by_code(
        &mut self,
        code: &str,
    ) -> Result<Option<CalendarRow>, StoreError> {
        let sql = format!("select {CALENDAR_COLS} from calendar c where c.code = $1");
        let row = sqlx::query(&sql)
            .bind(code)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(calendar).transpose()
    }

    /// Creates the calendar, or replaces the one with this code; returns its id and
    /// whether it was created.
    pub async fn put_calendar(
        &mut self,
        c: &NewCalendar<'_>,
    ) -> Result<(String, bool), StoreError> {
        let now = now_us();
        let existing: Option<String> =
            sqlx::query_scalar("select calendar_id from calendar where code = $1")
                .bind(c.code)
                .fetch_optional(&mut *self.tx)
                .await?;
        if let Some(id) = existing {
            sqlx::query(
                "update calendar set time_zone = $2, hours = $3, holidays = $4, workdays = $5, workday_hours = $6, updated_at = $7 where calendar_id = $1",
            )
            .bind(&id)
            .bind(c.time_zone)
            .bind(c.hours)
            .bind(c.holidays)
            .bind(c.workdays)
            .bind(c.workday_hours)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
            return Ok((id, false));
        }
        let id = new_id();
        sqlx::query(
            "insert into calendar (calendar_id, code, time_zone, hours, holidays, workdays, workday_hours, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(c.code)
        .bind(c.time_zone)
        .bind(c.hours)
        .bind(c.holidays)
        .bind(c.workdays)
        .bind(c.workday_hours)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok((id, true))
    }

    /// Makes a station's tickets run on a calendar.
    pub async fn set_station_calendar(
        &mut self,
        station_id: &str,
        calendar_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into station_calendar (station_id, calendar_id, updated_at) values ($1, $2, $3) \
             on conflict (station_id) do update set calendar_id = excluded.calendar_id, updated_at = excluded.updated_at",
        )
        .bind(station_id)
        .bind(calendar_id)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn put_sla_policy(
        &mut self,
        severity: Severity,
        p: SlaPolicy,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into sla_policy (severity, first_response_minutes, resolution_minutes, updated_at) values ($1, $2, $3, $4) \
             on conflict (severity) do update set first_response_minutes = excluded.first_response_minutes, \
             resolution_minutes = excluded.resolution_minutes, updated_at = excluded.updated_at",
        )
        .bind(severity.as_str())
        .bind(i64::from(p.first_response_minutes()))
        .bind(i64::from(p.resolution_minutes()))
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn sla_policy(&mut self, severity: &str) -> Result<Option<SlaPolicyRow>, StoreError> {
        let row = sqlx::query(
            "select severity, first_response_minutes, resolution_minutes from sla_policy where severity = $1",
        )
        .bind(severity)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| {
            Ok(SlaPolicyRow {
                severity: r.try_get(0)?,
                first_response_minutes: r.try_get(1)?,
                resolution_minutes: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Opens a ticket with no events yet; returns its id.
    pub async fn create_ticket(&mut self, t: &NewTicket<'_>) -> Result<String, StoreError> {
        let id = new_id();
        let now = now_us();
        let sealed = seal(&self.vault, "ticket.description", &id, t.description);
        sqlx::query(
            "insert into ticket (ticket_id, kind, channel, station_id, category, severity, customer_id, description_enc, state, \
             opened_at, escalation_level, opened_by, event_count, created_at, updated_at, first_response_minutes, resolution_minutes) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, 0, $12, $12, $13, $14)",
        )
        .bind(&id)
        .bind(t.kind)
        .bind(t.channel)
        .bind(t.station_id)
        .bind(t.category)
        .bind(t.severity)
        .bind(t.customer_id)
        .bind(&sealed)
        .bind(t.state)
        .bind(t.opened_at)
        .bind(t.opened_by)
        .bind(now)
        .bind(t.first_response_minutes)
        .bind(t.resolution_minutes)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Locks a ticket for a change and reads it: a row lock on PostgreSQL, held to the
    /// end of the transaction, so that concurrent steps on one ticket run one after the
    /// other and each decides on what the one before stored.
    pub async fn lock_ticket(&mut self, id: &str) -> Result<Option<TicketRow>, StoreError> {
        let done = sqlx::query("update ticket set event_count = event_count where ticket_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        ticket_by_id(&mut *self.tx, &self.vault, id).await
    }

    pub async fn ticket_events(&mut self, id: &str) -> Result<Vec<TicketEventRow>, StoreError> {
        events_of(&mut *self.tx, &self.vault, id).await
    }

    /// Records the next step of a ticket read with [`Tx::lock_ticket`] (whose
    /// `event_count` is `seen_count`) and sets the ticket's state and times. Refused as
    /// [`StoreError::Retry`] when another step was stored since: the caller decides again.
    pub async fn append_ticket_event(
        &mut self,
        ticket_id: &str,
        seen_count: i64,
        e: &NewTicketEvent<'_>,
    ) -> Result<i64, StoreError> {
        let seq = seen_count + 1;
        let now = now_us();
        let done = sqlx::query(
            "update ticket set state = $3, first_response_at = $4, resolved_at = $5, closed_at = $6, assignee_id = $7, \
             event_count = $8, updated_at = $9 where ticket_id = $1 and event_count = $2",
        )
        .bind(ticket_id)
        .bind(seen_count)
        .bind(e.to_state)
        .bind(e.first_response_at)
        .bind(e.resolved_at)
        .bind(e.closed_at)
        .bind(e.ticket_assignee_id)
        .bind(seq)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Retry);
        }
        let note = e.note.map(|n| {
            seal(
                &self.vault,
                "ticket_event.note",
                &format!("{ticket_id}:{seq}"),
                n,
            )
        });
        sqlx::query(
            "insert into ticket_event (ticket_id, seq, action, author, from_state, to_state, note_enc, assignee_id, csat, at, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(ticket_id)
        .bind(seq)
        .bind(e.action)
        .bind(e.author)
        .bind(e.from_state)
        .bind(e.to_state)
        .bind(note)
        .bind(e.assignee_id)
        .bind(e.csat)
        .bind(e.at)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(seq)
    }

    /// Records that a ticket's escalation reached `level`; the level only rises, so a
    /// second run of the escalation job (or a concurrent one) changes nothing. Returns
    /// whether it rose.
    pub async fn raise_escalation_level(
        &mut self,
        ticket_id: &str,
        level: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update ticket set escalation_level = $2 where ticket_id = $1 and escalation_level < $2",
        )
        .bind(ticket_id)
        .bind(level)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The default calendar and SLA policies, when missing. Fixed ids and times of 0
    /// (they belong to the schema), like the other built-in rows.
    pub(crate) async fn seed_service_desk(&mut self) -> Result<(), StoreError> {
        let holidays = date_list(china_holidays().map(|(d, _)| d))?;
        let workdays = date_list(china_make_up_workdays().map(|(d, _)| d))?;
        sqlx::query(
            "insert into calendar (calendar_id, code, time_zone, hours, holidays, workdays, workday_hours, created_at, updated_at) \
             values ('calendar-default', $1, 'Asia/Shanghai', $2, $3, $4, null, 0, 0) on conflict (code) do nothing",
        )
        .bind(DEFAULT_CALENDAR)
        .bind(DEFAULT_HOURS)
        .bind(&holidays)
        .bind(&workdays)
        .execute(&mut *self.tx)
        .await?;
        for severity in Severity::ALL {
            let p = SlaPolicy::default_for(severity);
            sqlx::query(
                "insert into sla_policy (severity, first_response_minutes, resolution_minutes, updated_at) values ($1, $2, $3, 0) \
                 on conflict (severity) do nothing",
            )
            .bind(severity.as_str())
            .bind(i64::from(p.first_response_minutes()))
            .bind(i64::from(p.resolution_minutes()))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }
}

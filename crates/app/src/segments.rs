//! Segments (SPEC "Marketing"): saved filters over the members' profile, behaviour and
//! analytics, evaluated at the moment they are used.
//!
//! A filter is a JSON object whose keys all must hold (an absent key holds for
//! everyone); unknown keys and bad values are refused with the key named. Profile keys
//! read the customer table, behaviour keys the members' sales (the analytics cache of
//! `Cache::member_sales`), analytics keys the RFM segment, lifecycle stage, ABC class,
//! churn risk and predicted next refuel day of `forecourt-analytics`, computed once
//! per version of the sales and kept ([`Cache`](crate::cache::Cache)`::segments`).
//!
//! A segment keeps the data scope of its creator: a station manager's segment holds
//! members of that station only, and a user sees the segments whose scope lies within
//! theirs.

use crate::access::{require, Action, Actor, Scope};
use crate::analytics::transactions;
use crate::clock::{local, rfc3339, NETWORK_TZ};
use crate::error::{AppError, AppResult};
use crate::input::text;
use crate::App;
use chrono::NaiveDate;
use forecourt_analytics::abc::{abc, AbcThresholds};
use forecourt_analytics::churn::{self, ChurnParams};
use forecourt_analytics::lifecycle::{lifecycle, LifecycleParams};
use forecourt_analytics::refuel::{refuel_cycles, RefuelParams};
use forecourt_analytics::rfm::{rfm, Segment as RfmSegment};
use forecourt_analytics::summary::{default_as_of, Histories};
use forecourt_analytics::transactions::{day_of, Day};
use forecourt_store::audit::AuditEntry;
use forecourt_store::marketing::{MemberRow, SegmentRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const NAME_CHARS_MAX: usize = 200;
const PAGE_SIZE: usize = 50;
const DAY_US: i64 = 86_400_000_000;
/// The window of `visits_min` and `spend_fen_min` when none is given.
pub const DEFAULT_WINDOW_DAYS: u32 = 90;
const LIFECYCLE_STAGES: [&str; 5] = ["potential", "new", "floating", "loyal", "lapsed"];
const ABC_CLASSES: [&str; 3] = ["A", "B", "C"];

/// The filter language. Every key present must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Carries at least one of these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_any: Option<Vec<String>>,
    /// Tier codes (`standard`, `vip`, `svip`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_in: Option<Vec<String>>,
    /// Home station codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_station_in: Option<Vec<String>>,
    /// Region codes of the home station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_in: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_marketing: Option<bool>,
    /// The last visit (local date) is before this date; members who never came do not
    /// match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit_before: Option<String>,
    /// The last visit is on or after this date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit_after: Option<String>,
    /// At least this many visits within `window_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits_min: Option<u32>,
    /// At least this much spend (fen, net of refunds) within `window_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_fen_min: Option<i64>,
    /// The window of `visits_min` and `spend_fen_min`, ending now (default 90 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rfm_segment_in: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage_in: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abc_class_in: Option<Vec<String>>,
    /// The churn model's probability is at least this (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn_risk_min: Option<f64>,
    /// The predicted next refuel day is within this many days from today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_refuel_within_days: Option<u32>,
}

/// A filter the language does not allow: `400 invalid_filter` naming the key.
fn bad(field: &str, message: impl std::fmt::Display) -> AppError {
    AppError::new("invalid_filter", format!("filter.{field}: {message}"))
}

fn one_of(field: &str, values: &Option<Vec<String>>, allowed: &[&str]) -> AppResult<()> {
    if let Some(vs) = values {
        for v in vs {
            if !allowed.contains(&v.as_str()) {
                return Err(bad(
                    field,
                    format!("{v:?} is not one of {}", allowed.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

fn date(field: &str, s: &Option<String>) -> AppResult<Option<NaiveDate>> {
    s.as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(field, "a date YYYY-MM-DD"))
        })
        .transpose()
}

impl Filter {
    /// Parses the API's JSON: an object of known keys with values of their type.
    pub fn parse(v: &Value) -> AppResult<Self> {
        if !v.is_object() {
            return Err(AppError::new(
                "invalid_filter",
                "filter: an object of filter keys (an empty object holds every member)",
            ));
        }
        let f: Filter = serde_json::from_value(v.clone())
            .map_err(|e| AppError::new("invalid_filter", format!("filter: {e}")))?;
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> AppResult<()> {
        let rfm_names: Vec<&str> = RfmSegment::ALL.iter().map(|s| s.name()).collect();
        one_of("rfm_segment_in", &self.rfm_segment_in, &rfm_names)?;
        one_of(
            "lifecycle_stage_in",
            &self.lifecycle_stage_in,
            &LIFECYCLE_STAGES,
        )?;
        one_of("abc_class_in", &self.abc_class_in, &ABC_CLASSES)?;
        date("last_visit_before", &self.last_visit_before)?;
        date("last_visit_after", &self.last_visit_after)?;
        if let Some(p) = self.churn_risk_min {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad("churn_risk_min", "a probability from 0 to 1"));
            }
        }
        if self.spend_fen_min.is_some_and(|s| s < 0) {
            return Err(bad("spend_fen_min", "fen, 0 or more"));
        }
        if self.window_days.is_some_and(|d| !(1..=730).contains(&d)) {
            return Err(bad("window_days", "1 to 730 days"));
        }
        if self
            .next_refuel_within_days
            .is_some_and(|d| !(0..=365).contains(&d))
        {
            return Err(bad("next_refuel_within_days", "0 to 365 days"));
        }
        for (field, list) in [
            ("tags_any", &self.tags_any),
            ("tier_in", &self.tier_in),
            ("home_station_in", &self.home_station_in),
            ("region_in", &self.region_in),
        ] {
            if list.as_ref().is_some_and(|l| l.is_empty()) {
                return Err(bad(
                    field,
                    "at least one value (leave the key out to hold everyone)",
                ));
            }
        }
        Ok(())
    }

    fn uses_analytics(&self) -> bool {
        self.rfm_segment_in.is_some()
            || self.lifecycle_stage_in.is_some()
            || self.abc_class_in.is_some()
            || self.churn_risk_min.is_some()
            || self.next_refuel_within_days.is_some()
    }
}

/// The analytics of every member, by customer id, at one version of the sales.
#[derive(Debug, Default)]
pub struct Analysed {
    rfm: HashMap<String, &'static str>,
    lifecycle: HashMap<String, &'static str>,
    abc: HashMap<String, &'static str>,
    churn: HashMap<String, f64>,
    next_visit: HashMap<String, Day>,
}

fn analyse(data: &crate::cache::MemberSales) -> Analysed {
    let tx = transactions(&data.0, &data.1);
    let mut out = Analysed::default();
    let Some(as_of) = default_as_of(&tx) else {
        return out;
    };
    let h = Histories::new(&tx);
    for r in rfm(&tx, &h, as_of) {
        out.rfm
            .insert(tx.name(r.customer).to_string(), r.segment.name());
    }
    for r in lifecycle(&tx, &h, as_of, &LifecycleParams::default()) {
        out.lifecycle
            .insert(tx.name(r.customer).to_string(), r.stage.name());
    }
    for r in abc(&tx, &h, as_of, AbcThresholds::default()).rows {
        out.abc
            .insert(tx.name(r.customer).to_string(), r.class.name());
    }
    for r in refuel_cycles(&tx, &h, as_of, &RefuelParams::default()) {
        if let Some(d) = r.next_visit {
            out.next_visit.insert(tx.name(r.customer).to_string(), d);
        }
    }
    let params = ChurnParams::default();
    let n = params.horizon_days as Day;
    if let Ok((model, _)) = churn::fit_at(&tx, &h, as_of - n, &params) {
        for f in churn::dataset(&tx, &h, as_of, &params).features {
            out.churn
                .insert(tx.name(f.customer).to_string(), model.probability(&f));
        }
    }
    out
}

/// Where [`Cache`](crate::cache::Cache) keeps the analytics of segments.
pub type AnalysedSlot = tokio::sync::Mutex<Option<(Arc<crate::cache::MemberSales>, Arc<Analysed>)>>;

/// The members' analytics for the current sales, computed at most once per version.
async fn analysed(app: &App) -> AppResult<Arc<Analysed>> {
    let data = app.cache().member_sales(app.store()).await?;
    let mut slot = app.cache().segments.lock().await;
    if let Some((seen, a)) = slot.as_ref() {
        if Arc::ptr_eq(seen, &data) {
            return Ok(a.clone());
        }
    }
    let d = data.clone();
    let a = Arc::new(
        tokio::task::spawn_blocking(move || analyse(&d))
            .await
            .map_err(AppError::internal)?,
    );
    *slot = Some((data, a.clone()));
    Ok(a)
}

/// Per member: the last visit (µs) and visits and spend since `since`.
fn behaviour(sales: &[(String, i64, i64, i64)], since: i64) -> HashMap<&str, (i64, u32, i64)> {
    let mut out: HashMap<&str, (i64, u32, i64)> = HashMap::new();
    for (customer, at, net, _) in sales {
        let e = out.entry(customer.as_str()).or_insert((i64::MIN, 0, 0));
        e.0 = e.0.max(*at);
        if *at >= since {
            e.1 += 1;
            e.2 += net;
        }
    }
    out
}

fn in_scope(scope: &Scope, user_id: &str, m: &MemberRow) -> bool {
    match scope {
        Scope::Company => true,
        Scope::Region(code) => m.region_code.as_deref() == Some(code.as_str()),
        Scope::Station(code) => m.station_code.as_deref() == Some(code.as_str()),
        Scope::Own => m.account_manager_id.as_deref() == Some(user_id),
    }
}

/// Whether the scope `inner` (a segment's) lies within `outer` (a user's).
async fn scope_within(app: &App, outer: &str, inner: &str) -> AppResult<bool> {
    if outer == inner || outer == "company" {
        return Ok(true);
    }
    if let (Some(region), Some(station)) = (
        outer.strip_prefix("region:"),
        inner.strip_prefix("station:"),
    ) {
        return Ok(app
            .store()
            .station_by_code(station)
            .await?
            .is_some_and(|s| s.region_code.as_deref() == Some(region)));
    }
    Ok(false)
}

/// The members a filter holds in a scope, by customer id, at `now`.
pub async fn evaluate(
    app: &App,
    filter: &Filter,
    scope: &str,
    owner_id: &str,
    now: i64,
) -> AppResult<Vec<String>> {
    let members = app.store().segment_members().await?;
    let data = app.cache().member_sales(app.store()).await?;
    let analysed = if filter.uses_analytics() {
        Some(analysed(app).await?)
    } else {
        None
    };
    let window = i64::from(filter.window_days.unwrap_or(DEFAULT_WINDOW_DAYS));
    let before = date("last_visit_before", &filter.last_visit_before)?;
    let after = date("last_visit_after", &filter.last_visit_after)?;
    let filter = filter.clone();
    let scope = Scope::parse(scope);
    let owner = owner_id.to_string();
    tokio::task::spawn_blocking(move || {
        let today = day_of(local(NETWORK_TZ, now).date);
        let b = behaviour(&data.0, now - window * DAY_US);
        let set = |v: &Option<Vec<String>>| -> Option<HashSet<String>> {
            v.as_ref().map(|l| l.iter().cloned().collect())
        };
        let (tags, tiers, stations, regions) = (
            set(&filter.tags_any),
            set(&filter.tier_in),
            set(&filter.home_station_in),
            set(&filter.region_in),
        );
        let has = |s: &Option<Vec<String>>, v: Option<&str>| match s {
            None => true,
            Some(l) => v.is_some_and(|v| l.iter().any(|x| x == v)),
        };
        members
            .into_iter()
            .filter(|m| {
                if !in_scope(&scope, &owner, m) {
                    return false;
                }
                if tags
                    .as_ref()
                    .is_some_and(|t| !m.tags.iter().any(|x| t.contains(x)))
                    || tiers.as_ref().is_some_and(|t| !t.contains(&m.tier_code))
                    || stations
                        .as_ref()
                        .is_some_and(|s| !m.station_code.as_ref().is_some_and(|c| s.contains(c)))
                    || regions
                        .as_ref()
                        .is_some_and(|s| !m.region_code.as_ref().is_some_and(|c| s.contains(c)))
                    || filter
                        .consent_marketing
                        .is_some_and(|c| c != m.consent_marketing)
                {
                    return false;
                }
                let (last, visits, spend) =
                    b.get(m.customer_id.as_str())
                        .copied()
                        .unwrap_or((i64::MIN, 0, 0));
                let last_day = (last != i64::MIN).then(|| local(NETWORK_TZ, last).date);
                if before.is_some_and(|d| last_day.is_none_or(|l| l >= d))
                    || after.is_some_and(|d| last_day.is_none_or(|l| l < d))
                    || filter.visits_min.is_some_and(|v| visits < v)
                    || filter.spend_fen_min.is_some_and(|s| spend < s)
                {
                    return false;
                }
                if let Some(a) = &analysed {
                    let id = m.customer_id.as_str();
                    if !has(&filter.rfm_segment_in, a.rfm.get(id).copied())
                        || !has(&filter.lifecycle_stage_in, a.lifecycle.get(id).copied())
                        || !has(&filter.abc_class_in, a.abc.get(id).copied())
                        || filter
                            .churn_risk_min
                            .is_some_and(|p| !a.churn.get(id).is_some_and(|c| *c >= p))
                        || filter.next_refuel_within_days.is_some_and(|n| {
                            !a.next_visit
                                .get(id)
                                .is_some_and(|d| *d >= today && *d <= today + n as Day)
                        })
                    {
                        return false;
                    }
                }
                true
            })
            .map(|m| m.customer_id)
            .collect()
    })
    .await
    .map_err(AppError::internal)
}

/// `POST /segments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentBody {
    pub name: String,
    pub filter: Value,
}

/// `POST /segments/preview`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    pub filter: Value,
}

/// `POST /api/v1/segments/preview` `{filter}` → `{size}`: the size of an unsaved
/// filter in the caller's scope.
pub async fn preview(app: &App, me: &Actor, body: PreviewBody) -> AppResult<Value> {
    require(me, Action::Market)?;
    let filter = Filter::parse(&body.filter)?;
    let ids = evaluate(app, &filter, &me.scope, &me.user_id, app.clock().now_us()).await?;
    Ok(json!({"size": ids.len()}))
}

/// `POST /api/v1/segments` `{name, filter}` → `201 {id, size}`.
pub async fn create(app: &App, me: &Actor, body: SegmentBody) -> AppResult<Value> {
    require(me, Action::Market)?;
    let name = text("name", &body.name, NAME_CHARS_MAX)?;
    let filter = Filter::parse(&body.filter)?;
    let now = app.clock().now_us();
    let size = evaluate(app, &filter, &me.scope, &me.user_id, now)
        .await?
        .len();
    let stored = serde_json::to_string(&filter).map_err(AppError::internal)?;
    let mut tx = app.store().begin().await?;
    let id = tx
        .create_segment(&name, &stored, &me.scope, &me.audit_name(), now)
        .await?;
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "segment.create",
        target_kind: "segment",
        target_id: Some(&id),
        source: me.source.as_deref(),
        detail: json!({"name": name, "filter": filter, "size": size}),
    })
    .await?;
    tx.commit().await?;
    Ok(json!({"id": id, "size": size}))
}

fn not_found() -> AppError {
    AppError::new("segment_not_found", "no segment with this id")
}

/// A segment the caller may see (its scope within theirs), else `segment_not_found`.
pub async fn visible(app: &App, me: &Actor, id: &str) -> AppResult<(SegmentRow, Filter)> {
    require(me, Action::Market)?;
    let s = app.store().segment(id).await?.ok_or_else(not_found)?;
    if !scope_within(app, &me.scope, &s.scope).await? {
        return Err(not_found());
    }
    let filter: Filter = serde_json::from_str(&s.filter).map_err(AppError::internal)?;
    Ok((s, filter))
}

fn segment_json(s: &SegmentRow, filter: &Filter, size: Option<usize>) -> Value {
    let mut v = json!({
        "id": s.segment_id, "name": s.name, "filter": filter, "scope": s.scope,
        "created_by": s.created_by, "created_at": rfc3339(s.created_at),
    });
    if let Some(n) = size {
        v["size"] = json!(n);
    }
    v
}

/// The members of a segment now: its creator's scope is kept.
pub async fn members_now(app: &App, s: &SegmentRow, filter: &Filter) -> AppResult<Vec<String>> {
    // An "own" scope names its owner by the creator's user id; other scopes need none.
    let owner = match s.scope.as_str() {
        "own" => {
            let username = s.created_by.trim_start_matches("user:");
            app.store()
                .user_by_username(username)
                .await?
                .map(|u| u.user_id)
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    evaluate(app, filter, &s.scope, &owner, app.clock().now_us()).await
}

/// `GET /api/v1/segments/{id}` → the segment with its size now.
pub async fn get(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    let (s, filter) = visible(app, me, id).await?;
    let size = members_now(app, &s, &filter).await?.len();
    Ok(segment_json(&s, &filter, Some(size)))
}

/// `GET /api/v1/segments` → `{segments: [...]}` the caller may see, newest first.
pub async fn list(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::Market)?;
    let mut out = Vec::new();
    for s in app.store().segments().await? {
        if scope_within(app, &me.scope, &s.scope).await? {
            let filter: Filter = serde_json::from_str(&s.filter).map_err(AppError::internal)?;
            out.push(segment_json(&s, &filter, None));
        }
    }
    Ok(json!({ "segments": out }))
}

/// `GET /api/v1/segments/{id}/members?page=` → a page of 50 members, personal data
/// masked unless the caller's role may see it.
pub async fn members(app: &App, me: &Actor, id: &str, page: Option<usize>) -> AppResult<Value> {
    let (s, filter) = visible(app, me, id).await?;
    let ids = members_now(app, &s, &filter).await?;
    let page = page.unwrap_or(1).max(1);
    let pages = ids.len().div_ceil(PAGE_SIZE).max(1);
    let see = crate::access::allowed(&me.role, Action::SeePersonalData);
    let mut rows = Vec::new();
    for cid in ids.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        let Some(c) = app.store().customer(cid).await? else {
            continue;
        };
        let phone = c.phone.as_deref().map(|p| {
            if see {
                p.to_string()
            } else {
                forecourt_core::person::mask_phone(p)
            }
        });
        let name = if see {
            c.name.clone()
        } else {
            crate::customers::mask_name(&c.name)
        };
        rows.push(json!({
            "id": c.customer_id, "member_code": c.member_code, "name": name, "phone": phone,
            "tier": c.tier_code, "consent_marketing": c.consent_marketing,
        }));
    }
    Ok(
        json!({"segment_id": s.segment_id, "size": ids.len(), "page": page, "pages": pages, "members": rows}),
    )
}

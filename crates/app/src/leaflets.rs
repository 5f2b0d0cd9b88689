//! Leaflets and promo codes (SPEC F7, issue 17 item 5; seed 001: 600 leaflets → 3
//! cards = 0.5 %). A batch is one leaflet drop at one or more stations, with one
//! single-use code per leaflet or one public code for all; a customer registered with a
//! code (at the counter, `promo_code` of `POST /customers`) is the batch's sign-up, and
//! the funnel follows them to their first sale and their spend.
//!
//! Scope: a batch belongs to its stations; a station manager sees and makes the batches
//! of their station, a region manager those of their region's stations. A batch out of
//! scope answers 404.

use crate::access::{require, station_in_scope, Action, Actor};
use crate::audit::audit_in;
use crate::error::{AppError, AppResult};
use crate::input::text;
use crate::App;
use forecourt_core::promo::{self, FunnelCounts};
use forecourt_store::promo::{BatchRow, NewBatch};
use forecourt_store::{Station, Tx};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The most leaflets of one batch with unique codes.
pub const UNIQUE_CODES_MAX: i64 = 20_000;
/// The most leaflets of a batch with a public code.
pub const QUANTITY_MAX: i64 = 10_000_000;
/// 100 million yuan.
const COST_FEN_MAX: i64 = 10_000_000_000;
const STATIONS_MAX: usize = 200;

/// `POST /api/v1/leaflets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    pub name: String,
    /// Station codes where the leaflets were handed out.
    pub stations: Vec<String>,
    /// YYYY-MM-DD.
    pub dropped_on: String,
    pub quantity: i64,
    #[serde(default)]
    pub cost_fen: i64,
    /// `unique` (one single-use code per leaflet, the default) or `public`.
    #[serde(default)]
    pub code_kind: Option<String>,
    /// The code printed on every leaflet of a `public` batch; drawn when not given.
    #[serde(default)]
    pub public_code: Option<String>,
    /// A coupon every sign-up receives.
    #[serde(default)]
    pub coupon_template_id: Option<String>,
}

fn not_found() -> AppError {
    AppError::new("leaflet_not_found", "no leaflet batch with this id")
}

/// A new code of [`promo::ALPHABET`].
pub fn new_code() -> String {
    let mut b = [0u8; promo::RANDOM_CHARS];
    rand::rngs::OsRng.fill_bytes(&mut b);
    promo::code_from(b)
}

/// Whether a batch is in the user's scope: one of its stations is.
fn batch_in_scope(me: &Actor, b: &BatchRow, stations: &HashMap<String, Station>) -> bool {
    b.station_ids
        .iter()
        .filter_map(|id| stations.get(id))
        .any(|s| station_in_scope(me, s))
}

async fn stations_by_id(app: &App) -> AppResult<HashMap<String, Station>> {
    Ok(app
        .store()
        .stations()
        .await?
        .into_iter()
        .map(|s| (s.station_id.clone(), s))
        .collect())
}

/// A batch as the API shows it, with its funnel.
async fn batch_json(
    app: &App,
    b: &BatchRow,
    stations: &HashMap<String, Station>,
) -> AppResult<Value> {
    let f = app.store().leaflet_funnel(&b.batch_id).await?;
    let counts = FunnelCounts {
        distributed: b.quantity,
        signed_up: f.signed_up,
        first_sale: f.first_sale,
        spend_fen: f.spend_fen,
        cost_fen: b.cost_fen,
    };
    let r = promo::funnel(counts);
    let st: Vec<Value> = b
        .station_ids
        .iter()
        .filter_map(|id| stations.get(id))
        .map(|s| json!({"code": s.code, "name": s.name}))
        .collect();
    Ok(json!({
        "id": b.batch_id,
        "name": b.name,
        "stations": st,
        "dropped_on": b.dropped_on,
        "quantity": b.quantity,
        "cost_fen": b.cost_fen,
        "code_kind": b.code_kind,
        "public_code": b.public_code,
        "coupon_template_id": b.coupon_template_id,
        "created_at": crate::clock::rfc3339(b.created_at),
        "funnel": {
            "distributed": counts.distributed,
            "signed_up": counts.signed_up,
            "first_sale": counts.first_sale,
            "spend_fen": counts.spend_fen,
            "conversion_percent": r.conversion_percent,
            "first_sale_percent": r.first_sale_percent,
            "cost_per_new_card_fen": r.cost_per_new_card_fen,
            "return_on_cost": r.return_on_cost,
        },
    }))
}

/// Creates a batch and its codes. Answers the batch with its (empty) funnel.
pub async fn create_batch(app: &App, me: &Actor, b: BatchBody) -> AppResult<Value> {
    require(me, Action::ManageLeaflets)?;
    let name = text("name", &b.name, 200)?;
    let dropped_on = chrono::NaiveDate::parse_from_str(b.dropped_on.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::validation("dropped_on", "a date YYYY-MM-DD"))?
        .format("%Y-%m-%d")
        .to_string();
    let kind = b.code_kind.as_deref().unwrap_or("unique");
    if kind != "unique" && kind != "public" {
        return Err(AppError::validation("code_kind", "unique or public"));
    }
    let max = if kind == "unique" {
        UNIQUE_CODES_MAX
    } else {
        QUANTITY_MAX
    };
    if !(1..=max).contains(&b.quantity) {
        return Err(AppError::validation(
            "quantity",
            format!("1 to {max} leaflets"),
        ));
    }
    if !(0..=COST_FEN_MAX).contains(&b.cost_fen) {
        return Err(AppError::validation("cost_fen", "0 or more, in fen"));
    }
    if b.stations.is_empty() || b.stations.len() > STATIONS_MAX {
        return Err(AppError::validation(
            "stations",
            "name the stations where the leaflets were handed out",
        ));
    }
    let public_code = match (kind, &b.public_code) {
        ("public", Some(c)) if !c.trim().is_empty() => Some(promo::public_code(c)?),
        ("public", _) => Some(new_code()),
        (_, Some(c)) if !c.trim().is_empty() => {
            return Err(AppError::validation(
                "public_code",
                "only a batch with code_kind public has a public code",
            ))
        }
        _ => None,
    };
    let mut station_ids = Vec::new();
    for code in &b.stations {
        let s = app
            .store()
            .station_by_code(code.trim())
            .await?
            .ok_or_else(|| AppError::new("station_not_found", format!("no station {code}")))?;
        crate::access::require_station(me, &s)?;
        if !station_ids.contains(&s.station_id) {
            station_ids.push(s.station_id);
        }
    }
    if let Some(t) = &b.coupon_template_id {
        app.store()
            .coupon_template(t)
            .await?
            .ok_or_else(|| AppError::validation("coupon_template_id", "no such coupon template"))?;
    }
    let now = app.clock().now_us();
    let actor = me.audit_name();
    let mut tx = app.store().begin().await?;
    let id = tx
        .create_leaflet_batch(&NewBatch {
            name: &name,
            dropped_on: &dropped_on,
            quantity: b.quantity,
            cost_fen: b.cost_fen,
            coupon_template_id: b.coupon_template_id.as_deref(),
            code_kind: kind,
            station_ids: &station_ids,
            created_by: &actor,
            created_at: now,
        })
        .await?;
    match &public_code {
        Some(code) => {
            if !tx.insert_leaflet_code(code, &id, true).await? {
                return Err(AppError::new(
                    "conflict",
                    "this public code is in use by another batch",
                ));
            }
        }
        None => {
            let mut made = 0;
            let mut draws = 0;
            while made < b.quantity {
                draws += 1;
                if draws > b.quantity * 2 + 100 {
                    return Err(AppError::internal("could not draw free codes"));
                }
                if tx.insert_leaflet_code(&new_code(), &id, false).await? {
                    made += 1;
                }
            }
        }
    }
    audit_in(
        &mut tx,
        me,
        "leaflet.create",
        "leaflet_batch",
        Some(&id),
        json!({"name": name, "quantity": b.quantity, "code_kind": kind, "stations": b.stations}),
    )
    .await?;
    tx.commit().await?;
    let row = app
        .store()
        .leaflet_batch(&id)
        .await?
        .ok_or_else(|| AppError::internal("batch vanished"))?;
    batch_json(app, &row, &stations_by_id(app).await?).await
}

/// The batches in the user's scope, each with its funnel.
pub async fn list_batches(app: &App, me: &Actor) -> AppResult<Vec<Value>> {
    require(me, Action::ManageLeaflets)?;
    let stations = stations_by_id(app).await?;
    let mut out = Vec::new();
    for b in app.store().leaflet_batches().await? {
        if batch_in_scope(me, &b, &stations) {
            out.push(batch_json(app, &b, &stations).await?);
        }
    }
    Ok(out)
}

async fn scoped_batch(
    app: &App,
    me: &Actor,
    id: &str,
) -> AppResult<(BatchRow, HashMap<String, Station>)> {
    require(me, Action::ManageLeaflets)?;
    let b = app.store().leaflet_batch(id).await?.ok_or_else(not_found)?;
    let stations = stations_by_id(app).await?;
    if !batch_in_scope(me, &b, &stations) {
        return Err(not_found());
    }
    Ok((b, stations))
}

/// One batch with its funnel.
pub async fn get_batch(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    let (b, stations) = scoped_batch(app, me, id).await?;
    batch_json(app, &b, &stations).await
}

/// A batch's codes as CSV for the printer: `code,used`, one line a leaflet. Audited
/// (the codes are worth a sign-up each).
pub async fn codes_csv(app: &App, me: &Actor, id: &str) -> AppResult<String> {
    let (b, _) = scoped_batch(app, me, id).await?;
    let codes = app.store().leaflet_codes(&b.batch_id).await?;
    let mut tx = app.store().begin().await?;
    audit_in(
        &mut tx,
        me,
        "leaflet.codes",
        "leaflet_batch",
        Some(&b.batch_id),
        json!({"codes": codes.len()}),
    )
    .await?;
    tx.commit().await?;
    let mut out = String::from("code,used\n");
    for (code, used) in codes {
        out.push_str(&code);
        out.push(',');
        out.push_str(if used { "yes" } else { "no" });
        out.push('\n');
    }
    Ok(out)
}

/// A code as typed at the counter, checked for form before any lookup.
pub fn typed_code(s: &str) -> AppResult<String> {
    promo::typed_code(s).ok_or_else(|| {
        AppError::new(
            "promo_code_invalid",
            "this leaflet code is not valid; check it and type it again",
        )
    })
}

/// Signs a customer up with a leaflet code inside the transaction that registers the
/// customer: a unique code is spent (of two parallel sign-ups with one code exactly
/// one succeeds; the other's transaction rolls back), a public one only counted; the
/// batch's coupon is issued. Answers the batch id.
pub async fn sign_up_in(tx: &mut Tx, code: &str, customer_id: &str, now: i64) -> AppResult<String> {
    let row = tx.leaflet_code(code).await?.ok_or_else(|| {
        AppError::new(
            "promo_code_invalid",
            "no leaflet carries this code; check it and type it again",
        )
    })?;
    if !row.public && !tx.spend_leaflet_code(code, customer_id, now).await? {
        return Err(AppError::new(
            "promo_code_used",
            "this leaflet code was used already",
        ));
    }
    tx.insert_leaflet_signup(customer_id, &row.batch_id, code, now)
        .await?;
    if let Some(t) = tx.leaflet_batch_coupon(&row.batch_id).await? {
        if let Some(t) = tx.coupon_template(&t).await?.filter(|t| t.active) {
            let code = crate::loyalty_admin::coupon_code();
            tx.issue_template_coupon(&code, &t, Some(customer_id), now)
                .await?;
        }
    }
    Ok(row.batch_id)
}

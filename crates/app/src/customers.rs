//! Customers: registration with vehicles, contacts and consents, the profile as the
//! caller's role and scope may see it, the search, vehicles and credit (挂账)
//! agreements.

use crate::access::{require, Action, Actor, CustomerView};
use crate::audit::{audit, audit_in};
use crate::cards::{card_summary, in_scope_card_view};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::input::{opt_long_text, opt_text, text, NAME_CHARS_MAX};
use crate::{App, Outcome};
use forecourt_core::ledger::account;
use forecourt_core::person::mask_phone;
use forecourt_core::{CardNo, Fen, Phone, Plate};
use forecourt_store::audit::AuditEntry;
use forecourt_store::{Customer, NewContact, NewCustomer, NewVehicle, StaffUser, StoreError};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

const SEARCH_RESULTS_MAX: i64 = 20;

#[derive(Deserialize)]
pub struct VehicleBody {
    pub plate: String,
    pub model: Option<String>,
    pub colour: Option<String>,
    pub fuel_type: Option<String>,
    pub tank_capacity_l: Option<f64>,
    pub tank_capacity_ml: Option<i64>,
}

#[derive(Deserialize)]
pub struct ContactBody {
    pub name: String,
    pub phone: Option<String>,
    pub role: Option<String>,
}

#[derive(Deserialize)]
pub struct CustomerBody {
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    #[serde(default)]
    pub vehicles: Vec<VehicleBody>,
    #[serde(default)]
    pub contacts: Vec<ContactBody>,
    pub industry: Option<String>,
    pub birthday: Option<String>,
    pub occupation: Option<String>,
    pub home_station: Option<String>,
    pub source: Option<String>,
    pub source_code: Option<String>,
    #[serde(default)]
    pub consent_marketing: bool,
    #[serde(default)]
    pub consent_sensitive: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// Resident ID number (GB 11643); needs `consent_sensitive`.
    pub id_number: Option<String>,
    pub address: Option<String>,
    /// The user id of the account manager who owns the customer.
    pub account_manager_id: Option<String>,
    /// The member code of the member who referred this one (以老带新).
    pub referred_by: Option<String>,
    /// The code of a leaflet the customer brought (a unique code is single-use); the
    /// customer counts as the leaflet batch's sign-up.
    pub promo_code: Option<String>,
}

const INDUSTRIES: &[&str] = &[
    "car_rental",
    "logistics",
    "construction",
    "taxi",
    "bus",
    "government",
    "other",
];
const SOURCES: &[&str] = &[
    "walk_in", "leaflet", "referral", "partner", "census", "other",
];

fn vehicle(v: &VehicleBody) -> AppResult<NewVehicle> {
    let plate = Plate::parse(&v.plate)?;
    let tank = match (v.tank_capacity_ml, v.tank_capacity_l) {
        (Some(ml), _) => Some(ml),
        (None, Some(l)) => Some((l * 1000.0).round() as i64),
        _ => None,
    };
    if tank.is_some_and(|t| !(1_000..=2_000_000).contains(&t)) {
        return Err(AppError::validation(
            "vehicles.tank_capacity",
            "1 to 2000 litres",
        ));
    }
    Ok(NewVehicle {
        plate: plate.as_str().to_string(),
        model: opt_text("vehicles.model", &v.model, 64)?,
        colour: opt_text("vehicles.colour", &v.colour, 32)?,
        fuel_type: opt_text("vehicles.fuel_type", &v.fuel_type, 32)?,
        tank_capacity_ml: tank,
    })
}

fn new_member_code() -> String {
    format!("8{:09}", rand::thread_rng().gen_range(0..1_000_000_000u32))
}

/// `POST /api/v1/customers`.
pub async fn create_customer(app: &App, me: &Actor, b: CustomerBody) -> AppResult<Outcome> {
    require(me, Action::CreateCustomer)?;
    if b.kind != "individual" && b.kind != "company" {
        return Err(AppError::validation("kind", "individual or company"));
    }
    let name = text("name", &b.name, NAME_CHARS_MAX)?;
    let phone = match &b.phone {
        Some(p) => Some(Phone::parse(p)?.as_str().to_string()),
        None => None,
    };
    if b.vehicles.len() > 200 || b.contacts.len() > 50 || b.tags.len() > 50 {
        return Err(AppError::validation(
            "vehicles/contacts/tags",
            "at most 200 vehicles, 50 contacts, 50 tags",
        ));
    }
    let vehicles = b
        .vehicles
        .iter()
        .map(vehicle)
        .collect::<AppResult<Vec<_>>>()?;
    let mut contacts = Vec::new();
    for c in &b.contacts {
        contacts.push(NewContact {
            name: text("contacts.name", &c.name, NAME_CHARS_MAX)?,
            phone: match &c.phone {
                Some(p) => Some(Phone::parse(p)?.as_str().to_string()),
                None => None,
            },
            role: opt_text("contacts.role", &c.role, 32)?,
        });
    }
    if let Some(i) = &b.industry {
        if !INDUSTRIES.contains(&i.as_str()) {
            return Err(AppError::validation(
                "industry",
                format!("one of {}", INDUSTRIES.join(", ")),
            ));
        }
    }
    if let Some(s) = &b.source {
        if !SOURCES.contains(&s.as_str()) {
            return Err(AppError::validation(
                "source",
                format!("one of {}", SOURCES.join(", ")),
            ));
        }
    }
    if let Some(d) = &b.birthday {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| AppError::validation("birthday", "a date YYYY-MM-DD"))?;
    }
    // A station's staff register customers at their station; it must be in scope.
    let home_code = match (&b.home_station, crate::access::Scope::of(me)) {
        (Some(code), _) => Some(code.clone()),
        (None, crate::access::Scope::Station(code)) => Some(code),
        (None, _) => None,
    };
    let home_station_id = match &home_code {
        Some(code) => {
            let s =
                app.store().station_by_code(code).await?.ok_or_else(|| {
                    AppError::new("station_not_found", format!("no station {code}"))
                })?;
            // An account manager's customers are theirs wherever they fill up.
            if crate::access::Scope::of(me) != crate::access::Scope::Own {
                crate::access::require_station(me, &s)?;
            }
            Some(s.station_id)
        }
        None if matches!(
            crate::access::Scope::of(me),
            crate::access::Scope::Region(_)
        ) =>
        {
            return Err(AppError::validation(
                "home_station",
                "name the customer's home station in your region",
            ));
        }
        None => None,
    };
    // An ID number is sensitive personal data (PIPL art. 28-29): kept only with its own
    // consent, and only when it is a valid GB 11643 number.
    let id_number = match opt_text("id_number", &b.id_number, 18)? {
        Some(n) if !b.consent_sensitive => {
            let _ = n;
            return Err(AppError::validation(
                "id_number",
                "an ID number needs the customer's separate consent (consent_sensitive)",
            ));
        }
        Some(n) => Some(
            forecourt_privacy::parse_id_number(&n)
                .map_err(|e| AppError::validation("id_number", e))?,
        ),
        None => None,
    };
    let account_manager_id = match (&b.account_manager_id, crate::access::Scope::of(me)) {
        (Some(id), _) => Some(id.clone()),
        (None, crate::access::Scope::Own) => Some(me.user_id.clone()),
        (None, _) => None,
    };
    let promo_code = match b.promo_code.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(crate::leaflets::typed_code(c)?),
    };
    let tags = b
        .tags
        .iter()
        .map(|t| text("tags", t, 32))
        .collect::<AppResult<Vec<_>>>()?;
    let mut customer = NewCustomer {
        member_code: new_member_code(),
        kind: b.kind.clone(),
        name,
        phone,
        industry: b.industry.clone(),
        birthday: b.birthday.clone(),
        occupation: opt_text("occupation", &b.occupation, 64)?,
        home_station_id,
        source: match (&b.source, &promo_code) {
            (None, Some(_)) => Some("leaflet".to_string()),
            (s, _) => s.clone(),
        },
        source_code: match &promo_code {
            Some(c) => Some(c.clone()),
            None => opt_text("source_code", &b.source_code, 64)?,
        },
        consent_marketing: b.consent_marketing,
        consent_sensitive: b.consent_sensitive,
        tags,
        notes: opt_long_text("notes", &b.notes, 2000)?,
        id_number,
        address: opt_text("address", &b.address, 200)?,
        account_manager_id,
        vehicles,
        contacts,
    };
    let referrer = match &b.referred_by {
        Some(code) => Some(
            app.store()
                .customer_by_member_code(code.trim())
                .await?
                .filter(|c| c.anonymized_at.is_none())
                .ok_or_else(|| {
                    AppError::validation("referred_by", "no member with this member code")
                })?
                .customer_id,
        ),
        None => None,
    };
    for _ in 0..5 {
        let mut tx = app.store().begin().await?;
        match tx.create_customer(&customer).await {
            Ok(id) => {
                if let Some(r) = &referrer {
                    tx.set_referrer(&id, r).await?;
                }
                if let Some(code) = &promo_code {
                    crate::leaflets::sign_up_in(&mut tx, code, &id, app.clock().now_us()).await?;
                }
                let actor = me.audit_name();
                tx.audit(&AuditEntry {
                    actor: &actor,
                    action: "customer.create",
                    target_kind: "customer",
                    target_id: Some(&id),
                    source: me.source.as_deref(),
                    detail: json!({"kind": customer.kind}),
                })
                .await?;
                if b.consent_marketing || b.consent_sensitive {
                    for (purpose, given) in [
                        ("marketing", b.consent_marketing),
                        ("sensitive", b.consent_sensitive),
                    ] {
                        if given {
                            tx.record_consent(&id, purpose, "counter", true, &actor)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                let c = app
                    .store()
                    .customer(&id)
                    .await?
                    .ok_or_else(|| AppError::internal("customer vanished"))?;
                // The creator typed the data in: out of their scope (an account
                // manager who named another manager) it comes back masked, not refused.
                let view = match crate::access::customer_view(app, me, &c).await? {
                    CustomerView::Outside => CustomerView::Masked,
                    v => v,
                };
                return Ok(Outcome::Created(profile_json(app, me, &c, view).await?));
            }
            // A member code collision: draw another.
            Err(StoreError::Conflict(_)) => customer.member_code = new_member_code(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::internal("could not draw a free member code"))
}

pub(crate) fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().clamp(1, 3))),
        None => String::new(),
    }
}

pub(crate) fn mask_plate(plate: &str) -> String {
    let chars: Vec<char> = plate.chars().collect();
    if chars.len() < 4 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4))
}

/// A customer's profile; the caller passed [`crate::access::read_customer`], which gave
/// `view`.
async fn profile_json(
    app: &App,
    me: &StaffUser,
    c: &Customer,
    view: CustomerView,
) -> AppResult<Value> {
    let store = app.store();
    let see = view == CustomerView::Full;
    let phone = c
        .phone
        .as_ref()
        .map(|p| if see { p.clone() } else { mask_phone(p) });
    let vehicles: Vec<Value> = store
        .vehicles(&c.customer_id)
        .await?
        .into_iter()
        .map(|v| json!({"vehicle_id": v.vehicle_id, "plate": if see { v.plate.clone() } else { mask_plate(&v.plate) }, "model": v.model, "colour": v.colour, "fuel_type": v.fuel_type, "tank_capacity_ml": v.tank_capacity_ml}))
        .collect();
    let contacts: Vec<Value> = store
        .contacts(&c.customer_id)
        .await?
        .into_iter()
        .map(|k| json!({"name": if see { k.name.clone() } else { mask_name(&k.name) }, "phone": k.phone.map(|p| if see { p } else { mask_phone(&p) }), "role": k.role}))
        .collect();
    let mut cards = Vec::new();
    for card in store.cards_of_customer(&c.customer_id).await? {
        cards.push(card_summary(app, in_scope_card_view(me), &card).await?);
    }
    let tier = store.tier(&c.tier_code).await?;
    let points = store.points_balance(&c.customer_id).await?;
    let credit = store.credit_agreement(&c.customer_id).await?;
    let credit_json = match credit {
        Some((limit, day)) => {
            let owed = store
                .account_totals(&account::customer_credit(&c.customer_id))
                .await?
                .owed();
            json!({"credit_limit_fen": limit, "billing_day": day, "owed_fen": owed, "available_fen": limit - owed})
        }
        None => Value::Null,
    };
    let recent: Vec<Value> = store
        .recent_sales(&c.customer_id, 10)
        .await?
        .into_iter()
        .map(|s| json!({"sale_id": s.sale_id, "station_code": s.station_code, "occurred_at": clock::rfc3339(s.occurred_at), "net_fen": s.net_fen, "points_earned": s.points_earned, "refunded_fen": s.refunded_fen}))
        .collect();
    Ok(json!({
        "id": c.customer_id,
        "member_code": c.member_code,
        "kind": c.kind,
        "name": if see { c.name.clone() } else { mask_name(&c.name) },
        "phone": phone,
        "industry": c.industry,
        "birthday": if see { c.birthday.clone() } else { None },
        "id_number": c.id_number.as_deref().map(forecourt_privacy::mask_id_number),
        "address": if see { c.address.clone() } else { c.address.as_ref().map(|_| "***".to_string()) },
        "account_manager_id": c.account_manager_id,
        "anonymized_at": c.anonymized_at.map(clock::rfc3339),
        "occupation": c.occupation,
        "home_station_id": c.home_station_id,
        "source": c.source,
        "source_code": c.source_code,
        "tier": tier.map(|t| json!({"code": t.code, "name": t.name})),
        "points_balance": points,
        "consent": {"marketing": c.consent_marketing, "sensitive": c.consent_sensitive},
        "tags": c.tags,
        "notes": c.notes,
        "created_at": clock::rfc3339(c.created_at),
        "vehicles": vehicles,
        "contacts": contacts,
        "cards": cards,
        "credit": credit_json,
        "recent_sales": recent,
    }))
}

/// `GET /api/v1/customers/{id}`: the profile, personal data masked unless the role may
/// see it.
pub async fn customer(app: &App, me: &Actor, id: String) -> AppResult<Value> {
    require(me, Action::ViewCustomer)?;
    let c = app
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    let view = crate::access::read_customer(app, me, &c).await?;
    let profile = profile_json(app, me, &c, view).await?;
    audit(
        app,
        me,
        "customer.read",
        "customer",
        Some(&id),
        json!({"unmasked": view == CustomerView::Full}),
    )
    .await?;
    Ok(profile)
}

#[derive(Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
}

/// `GET /api/v1/customers?q=`: by phone, plate, card number, member code or name.
/// `within_quota` tells whether the user may make another lookup now (the server's
/// per-user limit against scraping the customer base).
pub async fn search_customers(
    app: &App,
    me: &Actor,
    SearchQuery { q }: SearchQuery,
    within_quota: impl FnOnce(&StaffUser) -> bool,
) -> AppResult<Value> {
    require(me, Action::ViewCustomer)?;
    let q = q.as_deref().unwrap_or("").trim();
    if q.is_empty() || q.chars().count() > 64 {
        return Err(AppError::validation("q", "1 to 64 characters"));
    }
    if !within_quota(me) {
        return Err(AppError::new(
            "rate_limited",
            "too many lookups; wait a minute",
        ));
    }
    let store = app.store();
    let mut ids: Vec<String> = Vec::new();
    let mut matched = "name";
    if let Ok(phone) = Phone::parse(q) {
        ids = store.customer_ids_by_phone(phone.as_str()).await?;
        matched = "phone";
    } else if let Ok(no) = CardNo::parse(q) {
        ids = store
            .card_by_no(no.as_str())
            .await?
            .and_then(|c| c.customer_id)
            .into_iter()
            .collect();
        matched = "card_no";
    } else if let Ok(plate) = Plate::parse(q) {
        ids = store.customer_ids_by_plate(plate.as_str()).await?;
        matched = "plate";
    } else if let Ok(n) = forecourt_privacy::parse_id_number(q) {
        ids = store.customer_ids_by_id_number(&n).await?;
        matched = "id_number";
    } else if let Some(c) = store.customer_by_member_code(q).await? {
        ids = vec![c.customer_id];
        matched = "member_code";
    }
    if ids.is_empty() && matched == "name" {
        // Names are stored encrypted: the match is on the whole name.
        ids = store.customer_ids_by_name(q, SEARCH_RESULTS_MAX).await?;
    }
    let mut results = Vec::new();
    for id in ids.iter().take(SEARCH_RESULTS_MAX as usize) {
        if let Some(c) = store.customer(id).await? {
            let view = crate::access::customer_view(app, me, &c).await?;
            let see = view == CustomerView::Full;
            let vehicles: Vec<String> = store
                .vehicles(id)
                .await?
                .into_iter()
                .map(|v| if see { v.plate } else { mask_plate(&v.plate) })
                .collect();
            let mut row = json!({
                "id": c.customer_id,
                "member_code": c.member_code,
                "kind": c.kind,
                "name": if see { c.name.clone() } else { mask_name(&c.name) },
                "phone": c.phone.as_ref().map(|p| if see { p.clone() } else { mask_phone(p) }),
                "plates": vehicles,
                "tier_code": c.tier_code,
                "in_scope": view != CustomerView::Outside,
            });
            // Out of scope the match is fully masked and names no id or member code:
            // the search says that someone matched, and nothing that leads further.
            if view == CustomerView::Outside {
                row["id"] = Value::Null;
                row["member_code"] = Value::Null;
            }
            results.push(row);
        }
    }
    audit(
        app,
        me,
        "customer.search",
        "customer",
        None,
        json!({"matched_by": matched, "results": results.len()}),
    )
    .await?;
    Ok(json!({"matched_by": matched, "customers": results}))
}

pub async fn add_vehicle(app: &App, me: &Actor, id: String, b: VehicleBody) -> AppResult<Outcome> {
    require(me, Action::CreateCustomer)?;
    let customer = app
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(app, me, &customer).await?;
    let v = vehicle(&b)?;
    let mut tx = app.store().begin().await?;
    let vid = tx.add_vehicle(&id, &v).await?;
    tx.commit().await?;
    Ok(Outcome::Created(json!({"id": vid, "plate": v.plate})))
}

#[derive(Deserialize)]
pub struct CreditBody {
    pub credit_limit_fen: i64,
    #[serde(default = "one")]
    pub billing_day: i64,
}

fn one() -> i64 {
    1
}

/// `PUT /api/v1/customers/{id}/credit`: the credit (挂账) agreement.
pub async fn set_credit(app: &App, me: &Actor, id: String, b: CreditBody) -> AppResult<Value> {
    require(me, Action::ManageCredit)?;
    let customer = app
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(app, me, &customer).await?;
    if !(0..=1_000_000_000).contains(&b.credit_limit_fen) {
        return Err(AppError::validation(
            "credit_limit_fen",
            "0 to 10,000,000 CNY",
        ));
    }
    if !(1..=28).contains(&b.billing_day) {
        return Err(AppError::validation("billing_day", "1 to 28"));
    }
    let mut tx = app.store().begin().await?;
    let owed = tx
        .account_totals(&account::customer_credit(&id))
        .await?
        .owed();
    if owed > b.credit_limit_fen {
        return Err(AppError::validation(
            "credit_limit_fen",
            format!(
                "the customer owes {} CNY, more than the new limit",
                Fen(owed).yuan()
            ),
        ));
    }
    tx.set_credit_agreement(&id, b.credit_limit_fen, b.billing_day)
        .await?;
    audit_in(
        &mut tx,
        me,
        "credit.limit",
        "customer",
        Some(&id),
        json!({"credit_limit_fen": b.credit_limit_fen, "billing_day": b.billing_day}),
    )
    .await?;
    tx.commit().await?;
    Ok(
        json!({"customer_id": id, "credit_limit_fen": b.credit_limit_fen, "billing_day": b.billing_day, "owed_fen": owed}),
    )
}

//! The operators' loyalty API: adapters over `forecourt_app::loyalty_admin` (points
//! rules, settings, tiers and overrides, coupon templates and issuance, the catalogue
//! and redemptions, a member's points, the daily run).

use crate::error::ApiResult;
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::loyalty_admin::{
    self as admin, IssueBody, ItemBody, RedeemBody, RuleBody, RunBody, TemplateBody, TierBody,
    TierOverrideBody,
};
use serde_json::Value;

pub use forecourt_app::daily::{daily_run, expire, RunReport, CAR_WASH_TEMPLATE};

/// `GET /api/v1/loyalty/rules`: the rules (newest version of each) and what the lint
/// finds in the active set.
pub async fn get_rules(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(admin::rules(state.app(), &me).await?).into_response())
}

/// `GET /api/v1/loyalty/rules/{id}`: every version of a rule.
pub async fn get_rule(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(admin::rule(state.app(), &me, id).await?).into_response())
}

/// `POST /api/v1/loyalty/rules`: adds a rule, or a version of one. A rule that can
/// never fire is refused; overlaps with other rules are reported as warnings.
pub async fn post_rule(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<RuleBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(admin::save_rule(state.app(), &me, b).await?))
}

/// `GET /api/v1/loyalty/settings`.
pub async fn get_settings(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(admin::settings(state.app(), &me).await?).into_response())
}

/// `PUT /api/v1/loyalty/settings/{key}`: `expiry`, `tiers` or `referral`.
pub async fn put_setting(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(key): Path<String>,
    ApiJson(v): ApiJson<Value>,
) -> ApiResult<Response> {
    Ok(Json(admin::put_setting(state.app(), &me, key, v).await?).into_response())
}

/// `PUT /api/v1/tiers/{code}`: creates or changes a tier.
pub async fn put_tier(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<TierBody>,
) -> ApiResult<Response> {
    Ok(Json(admin::put_tier(state.app(), &me, code, b).await?).into_response())
}

/// `POST /api/v1/customers/{id}/tier`: sets a tier by hand, with a reason.
pub async fn post_tier_override(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TierOverrideBody>,
) -> ApiResult<Response> {
    Ok(Json(admin::override_tier(state.app(), &me, id, b).await?).into_response())
}

/// `GET /api/v1/loyalty/coupon-templates`.
pub async fn get_templates(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(admin::templates(state.app(), &me).await?).into_response())
}

/// `POST /api/v1/loyalty/coupon-templates`.
pub async fn post_template(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<TemplateBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        admin::create_template(state.app(), &me, b).await?,
    ))
}

/// `POST /api/v1/loyalty/coupons`: issues coupons of a template.
pub async fn post_issue(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<IssueBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        admin::issue_coupons(state.app(), &me, b).await?,
    ))
}

/// `GET /api/v1/customers/{id}/coupons`.
pub async fn get_member_coupons(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(admin::member_coupons(state.app(), &me, id).await?).into_response())
}

/// `GET /api/v1/loyalty/catalogue`.
pub async fn get_catalogue(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(admin::catalogue(state.app(), &me).await?).into_response())
}

/// `POST /api/v1/loyalty/catalogue`.
pub async fn post_item(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<ItemBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(admin::create_item(state.app(), &me, b).await?))
}

/// `POST /api/v1/customers/{id}/redemptions`: spends points on a catalogue item.
pub async fn post_redemption(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RedeemBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(admin::redeem(state.app(), &me, id, b).await?))
}

/// `POST /api/v1/redemptions/{id}/cancel`: gives the points back (to the lots they
/// came from) and the item back to stock; a coupon it gave must be unused.
pub async fn cancel_redemption(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(admin::cancel_redemption(state.app(), &me, id).await?).into_response())
}

/// `GET /api/v1/customers/{id}/points`: balance, lots with their expiry, history with
/// the reason of every line, and redemptions.
pub async fn get_points(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(admin::points(state.app(), &me, id).await?).into_response())
}

/// `POST /api/v1/loyalty/run`: the daily run (expiry, tier review, monthly car washes).
pub async fn post_run(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<RunBody>,
) -> ApiResult<Response> {
    Ok(Json(admin::run(state.app(), &me, b).await?).into_response())
}

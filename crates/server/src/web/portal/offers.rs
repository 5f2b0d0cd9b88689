//! Partner offers in the portal (商户联盟): the offers open to the member today, a
//! claim that gives a redemption code to show at the partner, and the member's codes.
//! What they show is read by `forecourt_app::partners`, keyed by the session's
//! customer.

use super::{empty, Member, Tab};
use crate::error::ApiError;
use crate::web::i18n::fill;
use crate::web::layout::notice;
use crate::web::{html, see_other, when, Shown};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use forecourt_app::partners;
use maud::{html as m, Markup};
use std::collections::HashMap;

/// A code as printed: two groups of four.
fn spaced(code: &str) -> String {
    if code.len() == 8 {
        format!("{} {}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

async fn offers_page(mb: &Member, done: bool, error: Option<&str>) -> Result<Markup, ApiError> {
    let app = mb.ctx.state.app();
    let offers = partners::member_offers(app, mb.id()).await?;
    let claims = partners::member_claims(app, mb.id()).await?;
    let tz = crate::clock::NETWORK_TZ;
    let body = m! {
        h1 { (mb.t("portal.offers.title")) }
        @if done { (notice("ok", mb.t("portal.offers.claimed"))) }
        @if let Some(e) = error { (notice("error", e)) }
        section.card id="portal-offers" {
            @if offers.is_empty() {
                (empty(mb.t("portal.offers.empty"), None))
            } @else {
                ul.rows {
                    @for o in &offers {
                        li.row.offer {
                            div.l {
                                b { (o.offer.title) }
                                span.muted.small { (o.offer.partner_name) " · " (mb.t(&format!("portal.offers.category.{}", o.offer.partner_category))) }
                                span.small { (o.offer.description) }
                                span.muted.small { (fill(mb.t("portal.offers.until"), &[("date", &o.offer.valid_until)])) }
                            }
                            div.r {
                                @if o.left > 0 {
                                    form method="post" action={ "/m/offers/" (crate::web::percent_encode(&o.offer.offer_id)) "/claim" } {
                                        input type="hidden" name="_csrf" value=(mb.csrf());
                                        button.small.primary.claim type="submit" { (mb.t("portal.offers.claim")) }
                                    }
                                } @else {
                                    span.muted.small { (mb.t("portal.offers.claimed_all")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card id="portal-claims" {
            h2 { (mb.t("portal.offers.mine")) }
            @if claims.is_empty() {
                (empty(mb.t("portal.offers.mine_empty"), None))
            } @else {
                ul.rows {
                    @for c in &claims {
                        li.row.claim {
                            div.l {
                                b { (c.offer_title) }
                                span.muted.small { (c.partner_name) }
                                @if let Some(at) = c.redeemed_at {
                                    span.muted.small { (fill(mb.t("portal.offers.used_at"), &[("at", &when(mb.lang(), at, tz, Shown::Minute))])) }
                                } @else {
                                    span.muted.small { (fill(mb.t("portal.offers.valid_until"), &[("at", &when(mb.lang(), c.expires_at - 1, tz, Shown::Day))])) }
                                }
                            }
                            div.r {
                                @if c.state == "redeemed" {
                                    span class="state done" { (mb.t("portal.offers.state.redeemed")) }
                                } @else {
                                    code.redemption-code { (spaced(&c.code)) }
                                }
                            }
                        }
                    }
                }
                p.muted.small { (mb.t("portal.offers.show_code")) }
            }
        }
    };
    Ok(mb.page(
        mb.t("portal.offers.title"),
        "portal-offers-page",
        Some(Tab::Points),
        body,
    ))
}

/// `GET /m/offers`: the offers open to the member and the member's codes.
pub async fn list(mb: Member, Query(q): Query<HashMap<String, String>>) -> Response {
    let done = q.get("done").map(String::as_str) == Some("claimed");
    match offers_page(&mb, done, None).await {
        Ok(page) => html(StatusCode::OK, page),
        Err(e) => mb.failed(&e),
    }
}

/// `POST /m/offers/{id}/claim`: claims an offer, then shows the code among the
/// member's codes; a refusal shows the list again with why.
pub async fn claim(
    mb: Member,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !mb.csrf_ok(&f) {
        return mb.forbidden();
    }
    match partners::claim(mb.ctx.state.app(), mb.id(), &id).await {
        Ok(_) => see_other("/m/offers?done=claimed"),
        Err(e) => {
            let key = match e.code {
                "offer_limit_reached" => "portal.offers.err.limit",
                "offer_unavailable" | "partner_not_found" => "portal.offers.err.unavailable",
                _ => return mb.failed(&e.into()),
            };
            let status = ApiError::from(e).status();
            match offers_page(&mb, false, Some(mb.t(key))).await {
                Ok(page) => html(status, page),
                Err(e) => mb.failed(&e),
            }
        }
    }
}

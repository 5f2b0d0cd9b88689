//! The unsubscribe link of every marketing message (`/u/{token}`), without signing in:
//! the token, bound to one member and one channel by a MAC under the server's secret,
//! is the authority.
//!
//! `GET` only shows what the button does and changes nothing, so that a link scanner
//! or a mail preview that fetches the link unsubscribes nobody. `POST` unsubscribes:
//! the page's button, or a mail client's RFC 8058 one-click request (`List-Unsubscribe-
//! Post: List-Unsubscribe=One-Click`), which comes from the mail provider's servers,
//! carries no cookie and no form token of ours, and is taken as it is. Unsubscribing
//! twice is the same as once. The page is sent with `Referrer-Policy: same-origin`
//! (the frame's), so the token never leaves for another site.

use super::frame;
use crate::web::i18n::fill;
use crate::web::layout::notice;
use crate::web::{html, Ctx};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use forecourt_app::contact;
use forecourt_store::outbox::Channel;
use maud::html as m;

fn channel_name(ctx: &Ctx, channel: Channel) -> &'static str {
    ctx.t(&format!("portal.unsub.channel.{}", channel.as_str()))
}

/// A page that only says something.
fn say(
    ctx: &Ctx,
    status: StatusCode,
    main_id: &str,
    title: &str,
    kind: &str,
    text: &str,
) -> Response {
    html(
        status,
        frame(
            ctx,
            title,
            main_id,
            None,
            m! { h1 { (title) } section.card { (notice(kind, text)) } },
        ),
    )
}

fn unknown(ctx: &Ctx) -> Response {
    say(
        ctx,
        StatusCode::NOT_FOUND,
        "unsubscribe-unknown",
        ctx.t("portal.unsub.unknown.title"),
        "error",
        ctx.t("portal.unsub.unknown.text"),
    )
}

/// `GET /u/{token}`: what unsubscribing does, and the button.
pub async fn show(ctx: Ctx, Path(token): Path<String>) -> Response {
    let Some(channel) = contact::unsubscribe_channel(ctx.state.app(), &token) else {
        return unknown(&ctx);
    };
    let title = ctx.t("portal.unsub.title");
    let action = format!("/u/{}", crate::web::percent_encode(&token));
    let text = fill(
        ctx.t("portal.unsub.text"),
        &[("channel", channel_name(&ctx, channel))],
    );
    html(
        StatusCode::OK,
        frame(
            &ctx,
            title,
            "unsubscribe-page",
            None,
            m! {
                h1 { (title) }
                section.card {
                    p { (text) }
                    form.stack method="post" action=(action) id="unsubscribe-form" {
                        input type="hidden" name="List-Unsubscribe" value="One-Click";
                        button.primary type="submit" id="unsubscribe-confirm" { (ctx.t("portal.unsub.confirm")) }
                    }
                }
            },
        ),
    )
}

/// `POST /u/{token}`: unsubscribes the token's member from its channel.
pub async fn submit(ctx: Ctx, Path(token): Path<String>) -> Response {
    match contact::unsubscribe(ctx.state.app(), &token).await {
        Ok(Some(channel)) => say(
            &ctx,
            StatusCode::OK,
            "unsubscribe-done",
            ctx.t("portal.unsub.done.title"),
            "ok",
            &fill(
                ctx.t("portal.unsub.done.text"),
                &[("channel", channel_name(&ctx, channel))],
            ),
        ),
        Ok(None) => unknown(&ctx),
        Err(e) => {
            tracing::error!(error = %e.message, "unsubscribe failed");
            say(
                &ctx,
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "unsubscribe-error",
                ctx.t("portal.err.title"),
                "error",
                ctx.t("portal.err.unknown"),
            )
        }
    }
}

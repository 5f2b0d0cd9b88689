//! The survey page of an invitation (`/s/{token}`): the questions, the answer and the
//! decline, without signing in. The token is the authority, as in the API
//! (`POST /api/v1/survey-responses/{token}`): what the page does goes through
//! `forecourt_app::surveys` (`survey_by_token`, `answer`, `decline`), so a token is
//! spent once, by the first answer or decline, whatever the page or the API sends.
//!
//! Cross-site requests. The page has no session and reads no cookie, so there is no
//! ambient credential a forged request could ride on (the usual CSRF): the credential
//! is the token in the path, which another site cannot read. A site that knows the
//! token can answer with it anyway, through the API. Still, the forms go a step
//! further, as cheap defence in depth: a POST must come from this origin (`Origin`, as
//! the sign-in forms check) and carry a form token that is a MAC of the invitation
//! token under the server's secret, so that only a form this server rendered for this
//! token is taken. The page is sent with `Referrer-Policy: same-origin`, so the token
//! in the URL never leaves for another site.

use super::frame;
use crate::web::i18n::fill;
use crate::web::layout::notice;
use crate::web::pages::auth::same_origin;
use crate::web::{html, Ctx};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use forecourt_app::error::AppError;
use forecourt_app::surveys::{self, AnswerBody, SurveyForm};
use forecourt_core::survey::{QuestionKind, ANSWER_CHARS_MAX};
use maud::{html as m, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// The form token of an invitation's page.
fn form_token(ctx: &Ctx, token: &str) -> String {
    ctx.state
        .app()
        .secret()
        .csrf_token(&format!("survey:{token}"))
}

fn form_ok(ctx: &Ctx, headers: &HeaderMap, token: &str, f: &HashMap<String, String>) -> bool {
    let sent = f.get("_form").map(String::as_str).unwrap_or("");
    same_origin(headers)
        && ctx
            .state
            .app()
            .secret()
            .csrf_matches(&format!("survey:{token}"), sent)
}

fn page(ctx: &Ctx, status: StatusCode, title: &str, main_id: &str, body: Markup) -> Response {
    html(status, frame(ctx, title, main_id, None, body))
}

/// A page that only says something: thanks, already answered, expired, unknown.
fn message_page(ctx: &Ctx, status: StatusCode, kind: &str, title: &str, text: &str) -> Response {
    page(
        ctx,
        status,
        title,
        "survey-done",
        m! {
            h1 { (title) }
            section.card {
                (notice(kind, text))
                p.muted.small { (ctx.t("portal.survey.done.close")) }
            }
        },
    )
}

/// A token that may not be used, as the API answers it: unknown 404, used 409,
/// expired 410; anything else is the server's failure.
fn refused(ctx: &Ctx, e: &AppError) -> Response {
    match e.code {
        "survey_not_found" => message_page(
            ctx,
            StatusCode::NOT_FOUND,
            "error",
            ctx.t("portal.survey.unknown.title"),
            ctx.t("portal.survey.unknown.text"),
        ),
        "survey_already_answered" => message_page(
            ctx,
            StatusCode::CONFLICT,
            "ok",
            ctx.t("portal.survey.answered.title"),
            ctx.t("portal.survey.answered.text"),
        ),
        "survey_expired" => message_page(
            ctx,
            StatusCode::GONE,
            "warn",
            ctx.t("portal.survey.expired.title"),
            ctx.t("portal.survey.expired.text"),
        ),
        _ => {
            tracing::error!(error = %e, "survey page failed");
            message_page(
                ctx,
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "error",
                ctx.t("portal.err.title"),
                ctx.t("portal.err.unknown"),
            )
        }
    }
}

/// A row of numbered choices (NPS 0–10, rating 1–5), each a radio shown as a button.
fn scale(
    name: &str,
    values: std::ops::RangeInclusive<i64>,
    picked: Option<&str>,
    class: &str,
) -> Markup {
    m! {
        div class={ "scale " (class) } {
            @for v in values {
                label.pick {
                    input type="radio" name=(name) value=(v) required checked[picked == Some(v.to_string().as_str())];
                    span { (v) }
                }
            }
        }
    }
}

fn survey_page(
    ctx: &Ctx,
    token: &str,
    survey: &SurveyForm,
    typed: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let action = format!("/s/{}", crate::web::percent_encode(token));
    let body = m! {
        h1 { (survey.name) }
        p.muted { (ctx.t("portal.survey.lead")) }
        @if let Some(e) = error { (notice("error", e)) }
        form.stack.survey method="post" action=(action) id="survey-form" {
            input type="hidden" name="_form" value=(form_token(ctx, token));
            @for (i, q) in survey.questions.iter().enumerate() {
                @let name = format!("q{i}");
                @let picked = typed.get(&name).map(String::as_str);
                fieldset.card.question id={ "survey-q" (i) } data-kind=(q.kind.as_str()) {
                    legend { span.muted { (i + 1) ". " } (q.text) }
                    @match q.kind {
                        QuestionKind::Nps => {
                            (scale(&name, 0..=10, picked, "nps"))
                            div.scale-ends.muted.small { span { (ctx.t("portal.survey.nps.low")) } span { (ctx.t("portal.survey.nps.high")) } }
                        }
                        QuestionKind::Rating => {
                            (scale(&name, 1..=5, picked, "rating"))
                            div.scale-ends.muted.small { span { (ctx.t("portal.survey.rating.low")) } span { (ctx.t("portal.survey.rating.high")) } }
                        }
                        QuestionKind::Choice => {
                            div.choices {
                                @for o in &q.options {
                                    label.choice {
                                        input type="radio" name=(name) value=(o) required checked[picked == Some(o.as_str())];
                                        span { (o) }
                                    }
                                }
                            }
                        }
                        QuestionKind::Text => {
                            textarea name=(name) rows="4" maxlength=(ANSWER_CHARS_MAX)
                                placeholder=(ctx.t("portal.survey.text.hint")) { (picked.unwrap_or("")) }
                        }
                    }
                }
            }
            button.primary type="submit" id="survey-submit" { (ctx.t("portal.survey.submit")) }
        }
        form.decline method="post" action={ (action) "/decline" } id="survey-decline-form" {
            input type="hidden" name="_form" value=(form_token(ctx, token));
            button.link type="submit" id="survey-decline" { (ctx.t("portal.survey.decline")) }
        }
    };
    frame(ctx, &survey.name, "survey-page", None, body)
}

/// `GET /s/{token}`: the questions of a usable invitation, or why it cannot be used.
pub async fn show(ctx: Ctx, Path(token): Path<String>) -> Response {
    match surveys::survey_by_token(ctx.state.app(), &token).await {
        Ok(survey) => html(
            StatusCode::OK,
            survey_page(&ctx, &token, &survey, &HashMap::new(), None),
        ),
        Err(e) => refused(&ctx, &e),
    }
}

/// The answers of the form, one per question in order: a number for NPS and rating, a
/// text for a choice and a free text (which may be empty). `None` when a question that
/// needs a pick has none.
fn answers_of(survey: &SurveyForm, f: &HashMap<String, String>) -> Option<Vec<Value>> {
    survey
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let v = f.get(&format!("q{i}")).map(|s| s.trim());
            match q.kind {
                QuestionKind::Nps | QuestionKind::Rating => {
                    v.and_then(|s| s.parse::<i64>().ok()).map(Value::from)
                }
                QuestionKind::Choice => v.filter(|s| !s.is_empty()).map(Value::from),
                QuestionKind::Text => Some(Value::from(v.unwrap_or(""))),
            }
        })
        .collect()
}

/// `POST /s/{token}`: stores the answers through `surveys::answer` (once: a second
/// submit, concurrent or not, shows "already answered" with 409).
pub async fn submit(
    ctx: Ctx,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let survey = match surveys::survey_by_token(ctx.state.app(), &token).await {
        Ok(s) => s,
        Err(e) => return refused(&ctx, &e),
    };
    let again = |status: StatusCode, text: &str| {
        html(status, survey_page(&ctx, &token, &survey, &f, Some(text)))
    };
    if !form_ok(&ctx, &headers, &token, &f) {
        return again(StatusCode::FORBIDDEN, ctx.t("portal.err.csrf"));
    }
    let Some(answers) = answers_of(&survey, &f) else {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.t("portal.survey.err.incomplete"),
        );
    };
    match surveys::answer(ctx.state.app(), &token, AnswerBody { answers }).await {
        Ok(_) => message_page(
            &ctx,
            StatusCode::OK,
            "ok",
            ctx.t("portal.survey.thanks.title"),
            ctx.t("portal.survey.thanks.text"),
        ),
        Err(e) if e.code == "validation_failed" => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &fill(
                ctx.t("portal.survey.err.invalid"),
                &[("n", &ANSWER_CHARS_MAX.to_string())],
            ),
        ),
        Err(e) => refused(&ctx, &e),
    }
}

/// `POST /s/{token}/decline`: the member does not take part; the token is spent.
pub async fn decline(
    ctx: Ctx,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !form_ok(&ctx, &headers, &token, &f) {
        return message_page(
            &ctx,
            StatusCode::FORBIDDEN,
            "error",
            ctx.t("portal.err.title"),
            ctx.t("portal.err.csrf"),
        );
    }
    match surveys::decline(ctx.state.app(), &token).await {
        Ok(_) => message_page(
            &ctx,
            StatusCode::OK,
            "ok",
            ctx.t("portal.survey.declined.title"),
            ctx.t("portal.survey.declined.text"),
        ),
        Err(e) => refused(&ctx, &e),
    }
}

//! Users and roles, and the audit log (administrators and auditors).

use super::{failed, failure_text, forbidden};
use crate::access::{allowed, Action, ROLES};
use crate::clock::NETWORK_TZ;
use crate::web::{html, layout, percent_encode, s, see_other, Console, Zones};
use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html as m, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

const AUDIT_PAGE: i64 = 50;

fn action_key(a: Action) -> String {
    let name = format!("{a:?}");
    let mut snake = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(ch.to_ascii_lowercase());
    }
    format!("action.{snake}")
}

fn matrix(c: &Console) -> Markup {
    m! {
        div.scroll {
            table.list.matrix id="role-matrix" {
                thead { tr { th { (c.t("users.action")) } @for r in ROLES { th { (c.t(&format!("role.{r}"))) } } } }
                tbody { @for a in Action::ALL { tr {
                    td { (crate::web::i18n::lookup(c.lang(), &action_key(a)).unwrap_or("?")) }
                    @for r in ROLES { td { @if allowed(r, a) { "✓" } @else { span.muted { "·" } } } }
                } } }
            }
        }
    }
}

fn users_page(c: &Console, users: &[Value], done: Option<&str>, error: Option<&str>) -> Markup {
    m! {
        @if let Some(d) = done { (layout::notice("ok", d)) }
        @if let Some(e) = error { (layout::notice("error", e)) }
        div.grid {
            section.card {
                h2 { (c.t("users.list")) }
                table.list id="users" {
                    thead { tr { th { (c.t("login.username")) } th { (c.t("users.role")) } th { (c.t("users.scope")) } th { (c.t("users.status")) } } }
                    tbody { @for u in users { tr {
                        td { (s(u, "username")) }
                        td { (c.t(&format!("role.{}", s(u, "role")))) }
                        td { code { (s(u, "scope")) } }
                        td { @if u["disabled"] == json!(true) { span.state.cancelled { (c.t("users.disabled")) } }
                             @else if u["locked"] == json!(true) { span.state.lost { (c.t("users.locked")) } }
                             @else { span.state.active { (c.t("users.active")) } } }
                    } } }
                }
            }
            section.card {
                h2 { (c.t("users.new")) }
                form.stack method="post" action="/admin/users" id="user-form" {
                    (layout::csrf(c))
                    label { (c.t("login.username")) input type="text" name="username" required maxlength="64" autocomplete="off"; }
                    label { (c.t("users.role")) select name="role" { @for r in ROLES { option value=(r) { (c.t(&format!("role.{r}"))) } } } }
                    label { (c.t("users.scope")) " " small.muted { (c.t("users.scope_hint")) } input type="text" name="scope" placeholder="station:S001"; }
                    label { (c.t("login.password")) " " small.muted { (c.t("users.password_hint")) } input type="password" name="password" required minlength="12" autocomplete="new-password"; }
                    button.primary type="submit" { (c.t("users.create")) }
                }
            }
        }
        section.card { h2 { (c.t("users.matrix")) } p.muted { (c.t("users.matrix_hint")) } (matrix(c)) }
    }
}

/// `GET /admin/users`: the users, the form for a new one, and the role table.
pub async fn users(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    let title = c.t("nav.users");
    let v = match c.get("/api/v1/users").await.into_result() {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let list = v["users"].as_array().cloned().unwrap_or_default();
    let done = q.get("done").map(|d| c.t(&format!("done.{d}")));
    html(
        StatusCode::OK,
        layout::page(&c, title, users_page(&c, &list, done, None)),
    )
}

/// `POST /admin/users`.
pub async fn add_user(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let scope = f.get("scope").map(|v| v.trim()).filter(|v| !v.is_empty());
    let body = json!({
        "username": f.get("username").map(|v| v.trim()).unwrap_or(""),
        "role": f.get("role").cloned().unwrap_or_default(),
        "scope": scope,
        "password": f.get("password").cloned().unwrap_or_default(),
    });
    match c
        .api(Method::POST, "/api/v1/users", Some(body))
        .await
        .into_result()
    {
        Ok(_) => see_other("/admin/users?done=user"),
        Err(e) => {
            let list = c
                .get("/api/v1/users")
                .await
                .into_result()
                .ok()
                .and_then(|v| v["users"].as_array().cloned())
                .unwrap_or_default();
            html(
                e.status,
                layout::page(
                    &c,
                    c.t("nav.users"),
                    users_page(&c, &list, None, Some(&failure_text(&c, &e))),
                ),
            )
        }
    }
}

/// `GET /admin/audit?before=&target=`: the newest entries first, 50 at a time.
pub async fn audit(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    let title = c.t("nav.audit");
    let before = q
        .get("before")
        .and_then(|b| b.parse::<i64>().ok())
        .filter(|b| *b > 0);
    let target = q.get("target").map(|t| t.trim()).filter(|t| !t.is_empty());
    let mut uri = format!("/api/v1/audit?limit={AUDIT_PAGE}");
    if let Some(b) = before {
        uri.push_str(&format!("&before={b}"));
    }
    if let Some(t) = target {
        uri.push_str(&format!("&target={}", percent_encode(t)));
    }
    let v = match c.get(&uri).await.into_result() {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let rows = v["entries"].as_array().cloned().unwrap_or_default();
    let last = rows.last().and_then(|r| r["seq"].as_i64());
    let target_q = target
        .map(|t| format!("&target={}", percent_encode(t)))
        .unwrap_or_default();
    let zones = Zones::load(&c.ctx.state).await;
    let body = m! {
        form.search method="get" action="/admin/audit" role="search" {
            input type="search" name="target" value=(target.unwrap_or("")) placeholder=(c.t("audit.target_hint")) aria-label=(c.t("audit.target_hint"));
            button type="submit" { (c.t("cust.search")) }
        }
        @if rows.is_empty() {
            (layout::empty(c.t("audit.empty"), None))
        } @else {
            section.card {
                table.list id="audit" {
                    thead { tr { th.num { "#" } th { (c.t("cust.when")) } th { (c.t("audit.actor")) } th { (c.t("audit.action")) } th { (c.t("audit.target")) } th { (c.t("audit.source")) } th { (c.t("audit.detail")) } } }
                    tbody { @for r in &rows { tr {
                        td.num { (s(r, "seq")) }
                        td { (c.when(&r["at"], NETWORK_TZ)) }
                        td { (s(r, "actor")) }
                        td {
                            @let action = s(r, "action");
                            @match crate::web::i18n::lookup(c.lang(), &format!("audit.act.{action}")) {
                                Some(label) => { (label) br; small.muted { code { (action) } } }
                                None => code { (action) },
                            }
                        }
                        td { (s(r, "target_kind")) " " @if !s(r, "target_id").is_empty() { a href={ "/admin/audit?target=" (percent_encode(&s(r, "target_id"))) } { small { (s(r, "target_id").chars().take(12).collect::<String>()) } } } }
                        td { small { (s(r, "source")) } }
                        td { small.muted { (detail_text(&c, r, &zones)) } }
                    } } }
                }
                nav.pager {
                    @if before.is_some() { a href={ "/admin/audit?" (target_q.trim_start_matches('&')) } { "« " (c.t("audit.newest")) } }
                    @if let Some(l) = last { @if rows.len() as i64 == AUDIT_PAGE {
                        a rel="next" href={ "/admin/audit?before=" (l) (target_q) } { (c.t("pager.next")) " ›" }
                    } }
                }
            }
        }
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}

/// An audit entry's detail as people read it: its moments (fields named `…_at`,
/// `…_from`, `…_until`, which the API writes as microseconds or RFC 3339) shown like
/// every other time, in the zone of the station the entry is about, else the
/// network's.
fn detail_text(c: &Console, r: &Value, zones: &Zones) -> String {
    let zone = if s(r, "target_kind") == "station" {
        zones.of_id(r["target_id"].as_str())
    } else {
        NETWORK_TZ
    };
    let mut detail = r["detail"].clone();
    if let Value::Object(fields) = &mut detail {
        for (k, v) in fields.iter_mut() {
            if k.ends_with("_at") || k.ends_with("_from") || k.ends_with("_until") {
                let shown = c.when(v, zone);
                if !shown.is_empty() {
                    *v = Value::String(shown);
                }
            }
        }
    }
    detail.to_string().chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use crate::web::i18n::{lookup, Lang};

    /// Every action the server and the CLI write to the audit log has a label
    /// (`audit.act.<action>`) in both catalogues; the page shows an unlabelled one as
    /// its bare code. The actions are the literals `"<kind>.<verb>"` of these kinds
    /// outside the web pages (whose catalogue keys look alike), less the one field name
    /// of that shape.
    #[test]
    fn every_audit_action_written_has_a_label_in_both_languages() {
        const KINDS: &[&str] = &[
            "adjustment",
            "card",
            "consent",
            "coupon",
            "credit",
            "customer",
            "loyalty",
            "member",
            "pos_token",
            "price",
            "promotion",
            "station",
            "user",
        ];
        const NOT_ACTIONS: &[&str] = &["customer.card_no"];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut found = std::collections::BTreeSet::new();
        let mut stack = vec![
            root.join("server/src"),
            root.join("app/src"),
            root.join("cli/src"),
        ];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if !p.ends_with("web") {
                        stack.push(p);
                    }
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let src = std::fs::read_to_string(&p).unwrap();
                    for lit in src.split('"').skip(1).step_by(2) {
                        let Some((kind, verb)) = lit.split_once('.') else {
                            continue;
                        };
                        let word = !verb.is_empty()
                            && verb.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                        if word && KINDS.contains(&kind) && !NOT_ACTIONS.contains(&lit) {
                            found.insert(lit.to_string());
                        }
                    }
                }
            }
        }
        // The scan sees the actions at all (a scan that finds nothing proves nothing).
        assert!(
            found.len() > 20 && found.contains("user.login"),
            "{found:?}"
        );
        let missing: Vec<String> = found
            .iter()
            .flat_map(|a| [(a, Lang::Zh), (a, Lang::En)])
            .filter(|(a, lang)| {
                lookup(*lang, &format!("audit.act.{a}")).is_none_or(|l| l.trim().is_empty())
            })
            .map(|(a, lang)| format!("{a} ({lang:?})"))
            .collect();
        assert!(
            missing.is_empty(),
            "audit actions without a label: {missing:?}"
        );
    }
}

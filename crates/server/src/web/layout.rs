//! The console's frame (header, menu, language switch) and the small pieces every page
//! uses: notices, empty states, pagination, tables of key and value.

use super::{percent_encode, Console, Lang};
use crate::access::Action;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The menu: path, catalogue key, the action that shows it, and whether it belongs to
/// the administration group.
const MENU: &[(&str, &str, Option<Action>, bool)] = &[
    ("/", "nav.dashboard", None, false),
    (
        "/customers",
        "nav.customers",
        Some(Action::ViewCustomer),
        false,
    ),
    ("/cards", "nav.cards", Some(Action::ViewCard), false),
    ("/tickets", "nav.tickets", Some(Action::ViewTickets), false),
    ("/surveys", "nav.surveys", Some(Action::ViewTickets), false),
    (
        "/leaflets",
        "nav.leaflets",
        Some(Action::ManageLeaflets),
        false,
    ),
    (
        "/loyalty",
        "nav.loyalty",
        Some(Action::ManagePromotions),
        true,
    ),
    ("/care", "nav.care", Some(Action::ManagePromotions), true),
    (
        "/analytics",
        "nav.analytics",
        Some(Action::ViewAnalytics),
        true,
    ),
    (
        "/admin/service-desk",
        "nav.service_desk",
        Some(Action::ManageServiceDesk),
        true,
    ),
    (
        "/partners",
        "nav.partners",
        Some(Action::ManagePartners),
        true,
    ),
    ("/admin/users", "nav.users", Some(Action::ManageUsers), true),
    ("/admin/audit", "nav.audit", Some(Action::ViewAudit), true),
];

fn head(lang: Lang, title: &str, css: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Forecourt" }
            link rel="stylesheet" href={ "/assets/" (css) };
            link rel="icon" href="/assets/logo.svg" type="image/svg+xml";
            meta name="content-language" content=(lang.code());
        }
    }
}

/// The language switch: a link to the other language that comes back here.
pub fn lang_switch(lang: Lang, path: &str) -> Markup {
    let other = lang.other();
    let label = match other {
        Lang::En => "English",
        Lang::Zh => "中文",
    };
    html! {
        a.lang id="lang-switch" href={ "/lang/" (other.code()) "?next=" (percent_encode(path)) } hreflang=(other.code()) { (label) }
    }
}

/// A console page: header with the user's menu, then the content.
pub fn page(c: &Console, title: &str, content: Markup) -> Markup {
    let path = c.ctx.path.split('?').next().unwrap_or("/");
    let visible: Vec<_> = MENU
        .iter()
        .filter(|(_, _, action, _)| action.is_none_or(|a| c.may(a)))
        .collect();
    let main_items: Vec<_> = visible.iter().filter(|m| !m.3).collect();
    let admin_items: Vec<_> = visible.iter().filter(|m| m.3).collect();
    let active = |href: &str| {
        if href == "/" {
            path == "/"
        } else {
            path.starts_with(href)
        }
    };
    html! {
        (DOCTYPE)
        html lang=(c.lang().code()) {
            (head(c.lang(), title, "console.css"))
            body {
                header.top {
                    a.brand href="/" { img src="/assets/logo.svg" alt="" width="24" height="24"; span { (c.t("app.name")) } }
                    nav.menu aria-label=(c.t("nav.label")) {
                        @for (href, key, _, _) in &main_items {
                            a href=(href) class=[active(href).then_some("active")] { (c.t(key)) }
                        }
                        @if !admin_items.is_empty() {
                            span.admin id="admin-menu" {
                                @for (href, key, _, _) in &admin_items {
                                    a href=(href) class=[active(href).then_some("active")] { (c.t(key)) }
                                }
                            }
                        }
                    }
                    div.who {
                        span.user title=(c.user.scope) { (c.user.username) " · " (role_name(c, &c.user.role)) }
                        (lang_switch(c.lang(), &c.ctx.path))
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="_csrf" value=(c.csrf());
                            button.link type="submit" id="logout" { (c.t("nav.logout")) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A bare page (login, errors) without the menu.
pub fn bare(lang: Lang, path: &str, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title, "console.css"))
            body.bare {
                div.corner { (lang_switch(lang, path)) }
                main.narrow { (content) }
            }
        }
    }
}

pub fn role_name(c: &Console, role: &str) -> &'static str {
    c.t(&format!("role.{role}"))
}

/// A notice above a page's content: success or error.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={ "notice " (kind) } role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// What to show when a list is empty: what it means and what to do next.
pub fn empty(text: &str, next: Option<(&str, &str)>) -> Markup {
    html! {
        div.empty {
            p { (text) }
            @if let Some((href, label)) = next { a.button href=(href) { (label) } }
        }
    }
}

/// Previous / next links for a list shown a page at a time.
pub fn pager(c: &Console, base: &str, page: i64, has_more: bool) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        nav.pager aria-label=(c.t("pager.label")) {
            @if page > 1 {
                a rel="prev" href={ (base) (sep) "page=" (page - 1) } { "‹ " (c.t("pager.prev")) }
            }
            span { (super::i18n::fill(c.t("pager.page"), &[("n", &page.to_string())])) }
            @if has_more {
                a rel="next" href={ (base) (sep) "page=" (page + 1) } { (c.t("pager.next")) " ›" }
            }
        }
    }
}

/// A two-column list of labels and values.
pub fn facts(rows: &[(&str, Markup)]) -> Markup {
    html! {
        dl.facts {
            @for (k, v) in rows { dt { (k) } dd { (v) } }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(c: &Console) -> Markup {
    html! { input type="hidden" name="_csrf" value=(c.csrf()); }
}

/// Text that is already safe HTML (an SVG chart we drew).
pub fn raw(s: String) -> Markup {
    PreEscaped(s)
}

//! The member's service desk in the portal (issue 16 items 6–7) through the real
//! router: a ticket sent from `/m/tickets/new` (channel portal, the member as its
//! customer, a flood guard that holds under parallel requests), the member's own
//! tickets and their public history (another member's answers 404), the in-app inbox
//! (only the member's own, opening marks read), and the survey page by token without
//! signing in (one answer out of parallel submits; unknown, used and expired tokens).

use crate::harness::{code, spawn_app, App};
use crate::portal::{get, member, sign_in, web, Page, PIN_A, PIN_B};
use axum::http::StatusCode;
use forecourt_app::service_desk::MEMBER_TICKETS_PER_DAY;
use serde_json::{json, Value};
use std::sync::Arc;

/// Sends the new-ticket form with the session's CSRF token.
async fn send_ticket(app: &App, token: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
    let mut form: Vec<(&str, &str)> = vec![("_csrf", csrf)];
    form.extend_from_slice(fields);
    web(app, "POST", "/m/tickets/new", Some(token), &[], Some(&form)).await
}

async fn ticket_api(app: &App, id: &str) -> Value {
    let (st, v) = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

async fn step(app: &App, id: &str, body: Value) -> Value {
    let (st, v) = app
        .post(&format!("/api/v1/tickets/{id}/events"), &app.admin, body)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// The ticket id a successful form leads to.
fn opened_id(p: &Page) -> String {
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let loc = p.location();
    let rest = loc
        .strip_prefix("/m/tickets/")
        .unwrap_or_else(|| panic!("{loc}"));
    let (id, query) = rest.split_once('?').unwrap();
    assert_eq!(query, "done=opened");
    id.to_string()
}

#[tokio::test]
async fn portal_member_sends_a_suggestion_and_follows_it_in_my_tickets() {
    let app = spawn_app().await;
    let a = member(&app, "李娜", "13800002001", PIN_A, 0, "S002").await;
    let b = member(&app, "王强", "13800002002", PIN_B, 0, "S001").await;
    let ta = sign_in(&app, &a.card, PIN_A).await;
    let tb = sign_in(&app, &b.card, PIN_B).await;

    // The form: the kinds, the subjects and the stations, the home station chosen.
    let form = get(&app, "/m/tickets/new", Some(&ta)).await;
    assert_eq!(form.status, StatusCode::OK);
    for needle in [
        r#"id="portal-ticket-form""#,
        r#"<option value="complaint">投诉</option>"#,
        r#"<option value="suggestion" selected>建议</option>"#,
        r#"<option value="fuel_quality">油品质量</option>"#,
        r#"<option value="S002" selected>"#,
        r#"id="portal-tab-service""#,
    ] {
        assert!(form.body.contains(needle), "{needle}\n{}", form.body);
    }
    // No service request from the portal (staff's kind), no codes shown as words.
    assert!(!form.body.contains(r#"value="service_request""#));
    let csrf = form.csrf();

    // Refusals change nothing: no CSRF token, an empty description, a wrong kind.
    let p = web(
        &app,
        "POST",
        "/m/tickets/new",
        Some(&ta),
        &[],
        Some(&[
            ("kind", "suggestion"),
            ("category", "waiting"),
            ("description", "x"),
        ]),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = send_ticket(
        &app,
        &ta,
        &csrf,
        &[
            ("kind", "suggestion"),
            ("category", "waiting"),
            ("description", "  "),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.error().contains("请填写内容"), "{}", p.error());
    let p = send_ticket(
        &app,
        &ta,
        &csrf,
        &[
            ("kind", "service_request"),
            ("category", "waiting"),
            ("description", "开票"),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app
        .store
        .tickets_of_customer(&a.id, 10)
        .await
        .unwrap()
        .is_empty());

    // A suggestion, at the home station by default.
    let p = send_ticket(
        &app,
        &ta,
        &csrf,
        &[
            ("kind", "suggestion"),
            ("category", "waiting"),
            ("station_code", ""),
            ("description", "晚高峰排队太久，\n建议多开一个收银台。"),
        ],
    )
    .await;
    let id = opened_id(&p);
    let v = ticket_api(&app, &id).await;
    assert_eq!(v["channel"], "portal");
    assert_eq!(v["customer_id"], json!(a.id));
    assert_eq!(v["station_code"], "S002");
    assert_eq!(v["severity"], "normal");
    assert_eq!(v["state"], "accepted");
    assert_eq!(v["opened_by"], json!(format!("member:{}", a.id)));

    // The member's page: state in words, the station's time, the history.
    let page = get(&app, &format!("/m/tickets/{id}?done=opened"), Some(&ta)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("已提交，我们会尽快处理"));
    assert!(
        page.body.contains(r#"data-state="accepted">受理中<"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("2026-11-20 08:30"), "{}", page.body);
    let list = get(&app, "/m/tickets", Some(&ta)).await;
    assert!(list.body.contains(&format!(r#"href="/m/tickets/{id}""#)));
    assert!(list.body.contains("建议 · 排队等候"));
    assert!(list.body.contains("受理中"));

    // Staff work it: the member sees the new state, never the note nor who wrote it.
    step(
        &app,
        &id,
        json!({"action": "investigate", "note": "内部：收银员张三当班", "assignee": "admin"}),
    )
    .await;
    let page = get(&app, &format!("/m/tickets/{id}"), Some(&ta)).await;
    assert!(
        page.body.contains(r#"data-state="investigating">处理中<"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("开始调查"));
    assert!(page.body.contains("客服"));
    assert!(
        !page.body.contains("张三"),
        "a staff note reached the member"
    );
    assert!(
        !page.body.contains("admin"),
        "a staff username reached the member"
    );
    step(&app, &id, json!({"action": "wait_customer"})).await;
    let page = get(&app, &format!("/m/tickets/{id}"), Some(&ta)).await;
    assert!(page.body.contains("待您回复"));
    // In English too.
    let en = web(
        &app,
        "GET",
        &format!("/m/tickets/{id}"),
        Some(&ta),
        &[("accept-language", "en-US,en;q=0.9")],
        None,
    )
    .await;
    assert_eq!(en.status, StatusCode::OK);
    assert!(en.body.contains("Waiting for you") && en.body.contains("Investigation started"));
    assert!(en.body.contains("Suggestion"));

    // Another member: 404 for the ticket, and an empty list.
    let other = get(&app, &format!("/m/tickets/{id}"), Some(&tb)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.body.contains("晚高峰"));
    let list_b = get(&app, "/m/tickets", Some(&tb)).await;
    assert!(!list_b.body.contains(&id));
    let unknown = get(&app, "/m/tickets/no-such-ticket", Some(&tb)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Not signed in: to the sign-in page.
    let anon = get(&app, &format!("/m/tickets/{id}"), None).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.location().starts_with("/m/login"));

    // A complaint about the fuel is high; about the staff's attitude, normal.
    let p = send_ticket(
        &app,
        &tb,
        &get(&app, "/m/tickets/new", Some(&tb)).await.csrf(),
        &[
            ("kind", "complaint"),
            ("category", "fuel_quality"),
            ("station_code", "S002"),
            ("description", "加完 95# 后发动机抖动"),
        ],
    )
    .await;
    let v = ticket_api(&app, &opened_id(&p)).await;
    assert_eq!(
        (v["severity"].as_str(), v["station_code"].as_str()),
        (Some("high"), Some("S002"))
    );
    app.assert_clean().await;
}

#[tokio::test]
async fn portal_ticket_flood_guard_holds_under_parallel_requests() {
    let app = Arc::new(spawn_app().await);
    let a = member(&app, "赵敏", "13800002101", PIN_A, 0, "S001").await;
    let token = sign_in(&app, &a.card, PIN_A).await;
    let csrf = get(&app, "/m/tickets/new", Some(&token)).await.csrf();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, token, csrf) = (app.clone(), token.clone(), csrf.clone());
        tasks.push(tokio::spawn(async move {
            let text = format!("第 {i} 条建议");
            send_ticket(
                &app,
                &token,
                &csrf,
                &[
                    ("kind", "suggestion"),
                    ("category", "other"),
                    ("description", &text),
                ],
            )
            .await
        }));
    }
    let (mut opened, mut refused) = (0, 0);
    for t in tasks {
        let p = t.await.unwrap();
        match p.status {
            StatusCode::SEE_OTHER => opened += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert!(p.error().contains("已达上限"), "{}", p.error());
            }
            other => panic!("unexpected {other}: {}", p.body),
        }
    }
    assert_eq!(opened, MEMBER_TICKETS_PER_DAY);
    assert_eq!(refused, 8 - MEMBER_TICKETS_PER_DAY);
    let stored = app.store.tickets_of_customer(&a.id, 50).await.unwrap();
    assert_eq!(stored.len() as i64, MEMBER_TICKETS_PER_DAY);
    // A day later the member may write again.
    app.set_now("2026-11-21T08:31:00+08:00");
    let p = send_ticket(
        &app,
        &token,
        &csrf,
        &[
            ("kind", "praise"),
            ("category", "attitude"),
            ("description", "服务很好"),
        ],
    )
    .await;
    opened_id(&p);
}

async fn create_survey(app: &App, name: &str) -> String {
    let (st, v) = app
        .post(
            "/api/v1/surveys",
            &app.admin,
            json!({"name": name, "questions": [
                {"kind": "nps", "text": "您有多大可能向朋友推荐我们？"},
                {"kind": "rating", "text": "您对本次服务满意吗？"},
                {"kind": "choice", "text": "等候时间", "options": ["短", "长"]},
                {"kind": "text", "text": "还有什么想说的？"}
            ]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn invite(app: &App, survey: &str, customers: &[&str]) -> Vec<String> {
    let (st, v) = app
        .post(
            &format!("/api/v1/surveys/{survey}/invitations"),
            &app.admin,
            json!({ "customer_ids": customers }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["token"]
                .as_str()
                .unwrap_or_else(|| panic!("{i}"))
                .to_string()
        })
        .collect()
}

/// The message ids a messages page links to, in order.
fn message_ids(p: &Page) -> Vec<String> {
    p.body
        .split(r#"href="/m/messages/"#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn portal_inbox_is_the_members_own_and_opening_marks_read() {
    let app = spawn_app().await;
    let a = member(&app, "陈静", "13800002201", PIN_A, 0, "S001").await;
    let b = member(&app, "周洋", "13800002202", PIN_B, 0, "S001").await;
    let ta = sign_in(&app, &a.card, PIN_A).await;
    let tb = sign_in(&app, &b.card, PIN_B).await;
    let home = get(&app, "/m/", Some(&ta)).await;
    assert!(home.body.contains("没有未读消息"));
    assert!(!home.body.contains(r#"id="portal-unread""#));

    let first = create_survey(&app, "加油体验").await;
    let second = create_survey(&app, "洗车体验").await;
    invite(&app, &first, &[&a.id]).await;
    app.set_now("2026-11-20T09:30:00+08:00");
    invite(&app, &second, &[&a.id]).await;

    let home = get(&app, "/m/", Some(&ta)).await;
    assert!(
        home.body.contains(r#"id="portal-unread">2<"#),
        "{}",
        home.body
    );
    let list = get(&app, "/m/messages", Some(&ta)).await;
    assert_eq!(list.status, StatusCode::OK);
    let ids = message_ids(&list);
    assert_eq!(ids.len(), 2);
    // Newest first: the second survey's message heads the list.
    let newest = list.body.find("洗车体验").unwrap();
    let oldest = list.body.find("加油体验").unwrap();
    assert!(newest < oldest);
    assert_eq!(
        list.body.matches(r#"class="row message unread""#).count(),
        2
    );

    // Member B sees none of them and cannot open (nor mark) one.
    let list_b = get(&app, "/m/messages", Some(&tb)).await;
    assert!(message_ids(&list_b).is_empty());
    let p = get(&app, &format!("/m/messages/{}", ids[0]), Some(&tb)).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(!p.body.contains("洗车体验"));
    let inbox = app.store.inbox(&a.id, 10).await.unwrap();
    assert!(inbox.iter().all(|m| m.read_at.is_none()));

    // A opens the newest: it reads as a page with a survey button, and is read.
    let p = get(&app, &format!("/m/messages/{}", ids[0]), Some(&ta)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("洗车体验"));
    assert!(
        p.body
            .contains(r#"class="button survey-link" href="/s/fsv_"#),
        "{}",
        p.body
    );
    assert!(p.body.contains("参与调查"));
    assert!(!p.body.contains(">/s/fsv_"), "the token is shown as text");
    let home = get(&app, "/m/", Some(&ta)).await;
    assert!(
        home.body.contains(r#"id="portal-unread">1<"#),
        "{}",
        home.body
    );
    let list = get(&app, "/m/messages", Some(&ta)).await;
    assert_eq!(
        list.body.matches(r#"class="row message unread""#).count(),
        1
    );
    assert!(list.body.contains(r#"class="row message""#));
}

/// The hidden form token of a survey page.
fn form_token(p: &Page) -> String {
    let at = p
        .body
        .find(r#"name="_form" value=""#)
        .unwrap_or_else(|| panic!("no form token in {}", p.body));
    let rest = &p.body[at + r#"name="_form" value=""#.len()..];
    rest.split('"').next().unwrap().to_string()
}

fn answers(form: &str) -> Vec<(&'static str, String)> {
    vec![
        ("_form", form.to_string()),
        ("q0", "9".into()),
        ("q1", "5".into()),
        ("q2", "短".into()),
        ("q3", "很好".into()),
    ]
}

async fn post_survey(app: &App, path: &str, fields: &[(&'static str, String)]) -> Page {
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    web(app, "POST", path, None, &[], Some(&form)).await
}

#[tokio::test]
async fn survey_page_by_token_answers_once_without_signing_in() {
    let app = Arc::new(spawn_app().await);
    let people: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                app.customer(
                    "individual",
                    &format!("1380000230{i}"),
                    json!({"home_station": "S001"}),
                )
                .await,
            );
        }
        v
    };
    let survey = create_survey(&app, "加油体验").await;
    let refs: Vec<&str> = people.iter().map(String::as_str).collect();
    let toks = invite(&app, &survey, &refs).await;

    // The page, with no cookie: every question, NPS as 11 picks, rating as 5.
    let path = format!("/s/{}", toks[0]);
    let p = get(&app, &path, None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("您有多大可能向朋友推荐我们？"));
    assert_eq!(p.body.matches(r#"type="radio" name="q0""#).count(), 11);
    assert_eq!(p.body.matches(r#"type="radio" name="q1""#).count(), 5);
    assert_eq!(p.body.matches(r#"type="radio" name="q2""#).count(), 2);
    assert!(p.body.contains(r#"<textarea name="q3""#));
    assert!(p.body.contains(r#"id="survey-decline""#));
    assert_eq!(p.headers["referrer-policy"], "same-origin");
    let form = form_token(&p);

    // Refused without the form token, from another origin, or incomplete: not spent.
    let mut no_token = answers(&form);
    no_token.remove(0);
    assert_eq!(
        post_survey(&app, &path, &no_token).await.status,
        StatusCode::FORBIDDEN
    );
    let other_token = answers(&form_token(
        &get(&app, &format!("/s/{}", toks[1]), None).await,
    ));
    assert_eq!(
        post_survey(&app, &path, &other_token).await.status,
        StatusCode::FORBIDDEN
    );
    let cross = web(
        &app,
        "POST",
        &path,
        None,
        &[
            ("origin", "https://evil.example"),
            ("host", "forecourt.example"),
        ],
        Some(&[
            ("_form", form.as_str()),
            ("q0", "9"),
            ("q1", "5"),
            ("q2", "短"),
            ("q3", ""),
        ]),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let mut incomplete = answers(&form);
    incomplete.retain(|(k, _)| *k != "q0");
    let p = post_survey(&app, &path, &incomplete).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.error().contains("请回答每一个"));
    assert_eq!(get(&app, &path, None).await.status, StatusCode::OK);

    // Eight submits at once: exactly one is taken.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, path, fields) = (app.clone(), path.clone(), answers(&form));
        tasks.push(tokio::spawn(async move {
            post_survey(&app, &path, &fields).await
        }));
    }
    let (mut ok, mut conflict) = (0, 0);
    for t in tasks {
        let p = t.await.unwrap();
        match p.status {
            StatusCode::OK => {
                ok += 1;
                assert!(p.body.contains("谢谢您"));
            }
            StatusCode::CONFLICT => {
                conflict += 1;
                assert!(p.body.contains("已经提交过了"));
            }
            other => panic!("unexpected {other}: {}", p.body),
        }
    }
    assert_eq!((ok, conflict), (1, 7));
    let (st, v) = app
        .get(&format!("/api/v1/surveys/{survey}/results"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["responses"], 1);
    // The page and the API agree: the token is spent.
    assert_eq!(get(&app, &path, None).await.status, StatusCode::CONFLICT);
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/survey-responses/{}", toks[0]),
            None,
            Some(json!({"answers": [9, 5, "短", ""]})),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "survey_already_answered")
    );

    // Decline: spent, and said so.
    let decline = format!("/s/{}/decline", toks[2]);
    let f2 = form_token(&get(&app, &format!("/s/{}", toks[2]), None).await);
    let p = post_survey(&app, &decline, &[("_form", f2)]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("30 天内"));
    assert_eq!(
        get(&app, &format!("/s/{}", toks[2]), None).await.status,
        StatusCode::CONFLICT
    );

    // Unknown: 404. Expired (31 days later): 410, in English on request.
    let p = get(&app, "/s/fsv_unknown", None).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("链接无效"));
    app.set_now("2026-12-21T08:30:00+08:00");
    let p = web(
        &app,
        "GET",
        &format!("/s/{}", toks[3]),
        None,
        &[("accept-language", "en")],
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::GONE);
    assert!(p.body.contains("Link expired"), "{}", p.body);
}

//! Surveys, the callback work list and breaches per station through the API (SPEC
//! "Service desk", issue 16 items 3–5, acceptance 5): NPS −45.45 from answers 0..10, a
//! token answers once (also under parallel requests), no re-invitation within 90 days of
//! an answer or 30 of a decline, the invitation that leaves with a ticket's close, and
//! every read scoped to the caller's stations. The server's clock stands at `NOW`
//! (Friday 2026-11-20 08:30 +08:00) unless a test moves it.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

async fn scoped_user(app: &App, name: &str, role: &str, scope: &str) -> String {
    app.scoped_user(name, role, scope).await.1
}

async fn survey(app: &App, after_ticket_close: bool) -> String {
    let (st, v) = app
        .post(
            "/api/v1/surveys",
            &app.admin,
            json!({"name": "加油体验", "after_ticket_close": after_ticket_close, "questions": [
                {"kind": "nps", "text": "您有多大可能向朋友推荐我们？"},
                {"kind": "rating", "text": "您对本次服务满意吗？"},
                {"kind": "choice", "text": "等候时间", "options": ["短", "长"]},
                {"kind": "text", "text": "还有什么想说的？"}
            ]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn invite(app: &App, token: &str, survey: &str, customers: &[String]) -> Vec<Value> {
    let (st, v) = app
        .post(
            &format!("/api/v1/surveys/{survey}/invitations"),
            token,
            json!({ "customer_ids": customers }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["invitations"].as_array().unwrap().clone()
}

fn tokens(invitations: &[Value]) -> Vec<String> {
    invitations
        .iter()
        .map(|i| {
            i["token"]
                .as_str()
                .unwrap_or_else(|| panic!("{i}"))
                .to_string()
        })
        .collect()
}

fn skipped(invitations: &[Value]) -> Vec<&str> {
    invitations
        .iter()
        .map(|i| i["skipped"].as_str().unwrap_or("-"))
        .collect()
}

async fn answer(app: &App, token: &str, answers: Value) -> (StatusCode, Value) {
    app.call(
        "POST",
        &format!("/api/v1/survey-responses/{token}"),
        None,
        Some(json!({ "answers": answers })),
    )
    .await
}

async fn customers(app: &App, n: usize, station: &str, first_phone: u64) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n as u64 {
        out.push(
            app.customer(
                "individual",
                &format!("{}", first_phone + i),
                json!({"home_station": station}),
            )
            .await,
        );
    }
    out
}

#[tokio::test]
async fn answers_zero_to_ten_give_nps_minus_45_45_and_a_token_answers_once() {
    let app = spawn_app().await;
    let id = survey(&app, false).await;
    let people = customers(&app, 11, "S001", 13_800_001_000).await;
    let invitations = invite(&app, &app.admin, &id, &people).await;
    let toks = tokens(&invitations);
    assert_eq!(toks.len(), 11);
    // A wrong answer is refused and spends nothing.
    let (st, v) = answer(&app, &toks[0], json!([11, 5, "短", ""])).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    let (st, v) = answer(&app, &toks[0], json!([0, 5, "中", ""])).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    for (score, token) in toks.iter().enumerate() {
        let rating = if score >= 7 { 5 } else { 2 };
        let (st, v) = answer(&app, token, json!([score, rating, "短", "谢谢"])).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert_eq!(v["state"], "answered");
    }
    // A second answer on a token is 409; so is a decline after the answer.
    let (st, v) = answer(&app, &toks[3], json!([10, 5, "短", ""])).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "survey_already_answered"),
        "{v}"
    );
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/survey-responses/{}/decline", toks[3]),
            None,
            None,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "survey_already_answered"),
        "{v}"
    );
    let (st, v) = answer(&app, "fsv_nothing", json!([1, 1, "短", ""])).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "survey_not_found"),
        "{v}"
    );

    let (st, v) = app
        .get(&format!("/api/v1/surveys/{id}/results"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["responses"], 11);
    assert_eq!(v["nps"], json!(-45.45));
    // 1.96 × √((2/11 + 7/11 − (5/11)²) / 11) × 100.
    assert_eq!(v["nps_margin"], json!(46.21));
    // Ratings: 4 of 11 are 5.
    assert_eq!(v["csat"], json!(36.36));
    assert_eq!(v["small_sample"], true);
    assert_eq!(v["by_station"][0]["station_code"], "S001");
    assert_eq!(v["by_station"][0]["nps"], json!(-45.45));
    assert_eq!(v["by_region"][0]["region_code"], "R1");
    assert_eq!(v["by_month"][0]["month"], "2026-11");
    assert_eq!(v["by_month"][0]["responses"], 11);

    // No re-invitation within 90 days of an answer, to this survey or another.
    let other = survey(&app, false).await;
    let again = invite(&app, &app.admin, &other, &people[..2]).await;
    assert_eq!(skipped(&again), ["answered_recently", "answered_recently"]);
    app.set_now("2027-02-17T08:30:00+08:00"); // 89 days later
    let again = invite(&app, &app.admin, &other, &people[..1]).await;
    assert_eq!(skipped(&again), ["answered_recently"]);
    app.set_now("2027-02-19T08:30:00+08:00"); // 91 days later
    let again = invite(&app, &app.admin, &other, &people[..1]).await;
    assert_eq!(tokens(&again).len(), 1);
    // Named twice, unknown, pending already: skipped with the reason.
    let again = invite(
        &app,
        &app.admin,
        &other,
        &[
            people[0].clone(),
            "nobody".into(),
            people[1].clone(),
            people[1].clone(),
        ],
    )
    .await;
    assert_eq!(
        skipped(&again),
        ["already_invited", "not_found", "-", "duplicate"]
    );
}

#[tokio::test]
async fn a_declined_survey_keeps_the_customer_quiet_for_30_days() {
    let app = spawn_app().await;
    let id = survey(&app, false).await;
    let people = customers(&app, 1, "S001", 13_800_002_000).await;
    let toks = tokens(&invite(&app, &app.admin, &id, &people).await);
    let path = format!("/api/v1/survey-responses/{}/decline", toks[0]);
    let (st, v) = app.call("POST", &path, None, None).await;
    assert_eq!(
        (st, v["state"].clone()),
        (StatusCode::OK, json!("declined")),
        "{v}"
    );
    let (st, v) = app.call("POST", &path, None, None).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "survey_already_answered"),
        "{v}"
    );
    let (st, _) = answer(&app, &toks[0], json!([9, 5, "短", ""])).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let again = invite(&app, &app.admin, &id, &people).await;
    assert_eq!(skipped(&again), ["declined_recently"]);
    app.set_now("2026-12-21T08:30:00+08:00"); // 31 days later
    assert_eq!(
        tokens(&invite(&app, &app.admin, &id, &people).await).len(),
        1
    );
    // An invitation is good for 30 days.
    let toks = tokens(
        &invite(
            &app,
            &app.admin,
            &survey(&app, false).await,
            &customers(&app, 1, "S001", 13_800_002_100).await,
        )
        .await,
    );
    app.set_now("2027-01-21T08:30:00+08:00");
    let (st, v) = answer(&app, &toks[0], json!([9, 5, "短", ""])).await;
    assert_eq!((st, code(&v)), (StatusCode::GONE, "survey_expired"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_answers_on_one_token_store_exactly_one() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = spawn_app().await;
    let id = survey(&app, false).await;
    let people = customers(&app, 1, "S001", 13_800_003_000).await;
    let toks = tokens(&invite(&app, &app.admin, &id, &people).await);
    // Eight requests on their own tasks, through clones of the router.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let router = app.router.clone();
        let req = axum::http::Request::post(format!("/api/v1/survey-responses/{}", toks[0]))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"answers": [i, 3, "长", format!("第{i}次")]}).to_string(),
            ))
            .unwrap();
        tasks.spawn(async move {
            let res = router.oneshot(req).await.unwrap();
            let st = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (st, serde_json::from_slice::<Value>(&bytes).unwrap())
        });
    }
    let results = tasks.join_all().await;
    let created = results
        .iter()
        .filter(|(st, _)| *st == StatusCode::CREATED)
        .count();
    let conflicts = results
        .iter()
        .filter(|(st, v)| *st == StatusCode::CONFLICT && code(v) == "survey_already_answered")
        .count();
    assert_eq!((created, conflicts), (1, 7), "{results:?}");
    let (_, v) = app
        .get(&format!("/api/v1/surveys/{id}/results"), &app.admin)
        .await;
    assert_eq!(v["responses"], 1, "{v}");
}

#[tokio::test]
async fn closing_a_ticket_invites_its_customer_through_the_outbox() {
    let app = spawn_app().await;
    let id = survey(&app, true).await;
    let people = customers(&app, 1, "S002", 13_800_004_000).await;
    let (st, t) = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"kind": "praise", "channel": "counter", "station_code": "S001", "category": "attitude",
                   "severity": "low", "customer_id": people[0], "description": "加油员很热情"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    assert!(app.store.inbox(&people[0], 10).await.unwrap().is_empty());
    let (st, v) = app
        .post(
            &format!("/api/v1/tickets/{}/events", t["id"].as_str().unwrap()),
            &app.admin,
            json!({"action": "close", "note": "谢谢"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let inbox = app.store.inbox(&people[0], 10).await.unwrap();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let token = inbox[0]
        .body
        .split("/s/")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (st, v) = answer(&app, &token, json!([10, 5, "短", ""])).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Counted for the ticket's station, not the customer's home station.
    let (_, v) = app
        .get(&format!("/api/v1/surveys/{id}/results"), &app.admin)
        .await;
    assert_eq!(v["by_station"][0]["station_code"], "S001", "{v}");
    assert_eq!(v["nps"], json!(100.0));
}

#[tokio::test]
async fn callbacks_results_and_breaches_are_read_only_within_the_callers_stations() {
    let app = spawn_app().await;
    let cashier1 = scoped_user(&app, "cashier1", "cashier", "station:S001").await;
    let cashier2 = scoped_user(&app, "cashier2", "cashier", "station:S002").await;
    let manager2 = scoped_user(&app, "manager2", "station_manager", "station:S002").await;
    let (st, t) = app
        .post(
            "/api/v1/tickets",
            &cashier1,
            json!({"kind": "complaint", "channel": "counter", "station_code": "S001", "category": "metering",
                   "severity": "normal", "description": "加油量不足"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let tid = t["id"].as_str().unwrap().to_string();
    for action in ["propose", "implement"] {
        let (st, v) = app
            .post(
                &format!("/api/v1/tickets/{tid}/events"),
                &cashier1,
                json!({"action": action}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    // The task is in S001's work list, due at the ticket's resolution due time.
    let (st, v) = app.get("/api/v1/callbacks", &cashier1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let list = v["callbacks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["ticket_id"], tid.as_str());
    assert_eq!(list[0]["due_at"], t["resolution_due_at"]);
    assert_eq!(list[0]["attempts"], 0);
    // Not in S002's, and S002's staff may not ask for S001's.
    let (st, v) = app.get("/api/v1/callbacks", &cashier2).await;
    assert_eq!((st, v["callbacks"].clone()), (StatusCode::OK, json!([])));
    let (st, v) = app.get("/api/v1/callbacks?station=S001", &cashier2).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app
        .get("/api/v1/ticket-breaches?station=S001", &cashier2)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app.get("/api/v1/ticket-breaches", &cashier2).await;
    assert_eq!((st, v["stations"].clone()), (StatusCode::OK, json!([])));
    let (st, v) = app.get("/api/v1/ticket-breaches", &cashier1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["stations"],
        json!([{"station_code": "S001", "open": 1, "breached": 0, "escalated": 0}])
    );

    // Three failed attempts: the next is due a day after the last; after the third the
    // task leaves the list and the complaint may close as unreachable.
    for i in 1..=3 {
        let (st, v) = app
            .post(
                &format!("/api/v1/tickets/{tid}/events"),
                &cashier1,
                json!({"action": "unreachable", "note": format!("第{i}次未接通")}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (_, v) = app.get("/api/v1/callbacks?station=S001", &cashier1).await;
        if i < 3 {
            assert_eq!(v["callbacks"][0]["attempts"], i, "{v}");
            assert_eq!(v["callbacks"][0]["due_at"], "2026-11-21T00:30:00Z", "{v}");
        } else {
            assert_eq!(v["callbacks"], json!([]), "{v}");
        }
    }
    let (st, v) = app
        .post(
            &format!("/api/v1/tickets/{tid}/events"),
            &cashier1,
            json!({"action": "close"}),
        )
        .await;
    assert_eq!(
        (st, v["state"].clone()),
        (StatusCode::OK, json!("closed")),
        "{v}"
    );

    // Results: S002's manager sees only S002's answers; a cashier may not make surveys.
    let id = survey(&app, false).await;
    let (st, v) = app
        .post(
            "/api/v1/surveys",
            &cashier1,
            json!({"name": "x", "questions": [{"kind": "nps", "text": "?"}]}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let s1 = customers(&app, 2, "S001", 13_800_005_000).await;
    let s2 = customers(&app, 1, "S002", 13_800_005_100).await;
    // A station's staff invite their own customers only.
    let mixed = invite(&app, &cashier2, &id, &[s1[0].clone(), s2[0].clone()]).await;
    assert_eq!(skipped(&mixed), ["outside_scope", "-"]);
    let toks = tokens(&invite(&app, &app.admin, &id, &s1).await);
    for t in toks.iter().chain(tokens(&mixed[1..]).iter()) {
        let (st, v) = answer(&app, t, json!([10, 5, "短", ""])).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let (_, v) = app
        .get(&format!("/api/v1/surveys/{id}/results"), &manager2)
        .await;
    assert_eq!(v["responses"], 1, "{v}");
    assert_eq!(
        v["by_station"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["station_code"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["S002"]
    );
    let (_, v) = app
        .get(&format!("/api/v1/surveys/{id}/results"), &app.admin)
        .await;
    assert_eq!(v["responses"], 3, "{v}");
    let (st, v) = app.get("/api/v1/surveys/nope/results", &app.admin).await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "survey_not_found"));
}

#[tokio::test]
async fn staff_contacts_are_checked_before_anything_is_created() {
    let app = spawn_app().await;
    let (st, v) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "sm9", "role": "station_manager", "scope": "station:S001",
                   "password": "Staff-pass-1234", "email": "not an address"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    assert!(app.store.user_by_username("sm9").await.unwrap().is_none());
    let (st, v) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "sm9", "role": "station_manager", "scope": "station:S001",
                   "password": "Staff-pass-1234", "email": "sm9@example.com", "phone": "+8613800000009"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let u = app.store.user_by_username("sm9").await.unwrap().unwrap();
    let c = app.store.staff_contact(&u.user_id).await.unwrap();
    assert_eq!(
        (c.email.as_deref(), c.phone.as_deref()),
        (Some("sm9@example.com"), Some("+8613800000009"))
    );
    let sm9 = app.login("sm9", "Staff-pass-1234").await;
    let (st, v) = app
        .put(
            "/api/v1/users/sm9/contact",
            &sm9,
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["phone"], Value::Null);
    let (st, v) = app
        .put(
            "/api/v1/users/admin/contact",
            &sm9,
            json!({"email": "x@example.com"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
}

/// A staff user who is not an administrator cannot point another user's alerts (a
/// region manager's escalations, say) at themself, however many requests they send at
/// once, and cannot learn from the answers which usernames exist.
#[tokio::test]
async fn only_administrators_set_another_users_contact_even_in_parallel() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = spawn_app().await;
    app.scoped_user("rm1", "region_manager", "region:R1").await;
    let (_, sm) = app
        .scoped_user("sm1", "station_manager", "station:S001")
        .await;
    let (st, v) = app
        .put(
            "/api/v1/users/rm1/contact",
            &app.admin,
            json!({"email": "rm1@example.com", "phone": "+8613800000001"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Sixteen requests on their own tasks, half for a user who exists.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let target = if i % 2 == 0 { "rm1" } else { "nobody-here" };
        let router = app.router.clone();
        let req = axum::http::Request::put(format!("/api/v1/users/{target}/contact"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {sm}"))
            .body(axum::body::Body::from(
                json!({"email": "attacker@example.com", "phone": "+8613900000000"}).to_string(),
            ))
            .unwrap();
        tasks.spawn(async move {
            let res = router.oneshot(req).await.unwrap();
            let st = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (st, serde_json::from_slice::<Value>(&bytes).unwrap())
        });
    }
    for (st, v) in tasks.join_all().await {
        assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    }
    let u = app.store.user_by_username("rm1").await.unwrap().unwrap();
    let c = app.store.staff_contact(&u.user_id).await.unwrap();
    assert_eq!(
        (c.email.as_deref(), c.phone.as_deref()),
        (Some("rm1@example.com"), Some("+8613800000001"))
    );
}

/// The PIPL rights reach the service desk: the export holds the customer's tickets (with
/// what they said) and survey answers; anonymisation erases both texts, keeps the
/// scores in the results, and a pending invitation can no longer be answered.
#[tokio::test]
async fn export_holds_tickets_and_answers_and_erasure_removes_their_text() {
    let app = spawn_app().await;
    let id = survey(&app, false).await;
    let people = customers(&app, 1, "S001", 13_800_009_000).await;
    let c = &people[0];
    let (st, v) = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"kind": "complaint", "channel": "phone", "station_code": "S001", "category": "metering",
                   "severity": "normal", "customer_id": c, "description": "我住在幸福路 8 号，加油量不对"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let ticket = v["id"].as_str().unwrap().to_string();
    let (st, v) = app
        .post(
            &format!("/api/v1/tickets/{ticket}/events"),
            &app.admin,
            json!({"action": "respond", "note": "已电话联系张先生"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let toks = tokens(&invite(&app, &app.admin, &id, &people).await);
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/survey-responses/{}", toks[0]),
            None,
            Some(json!({"answers": [9, 5, "短", "我的车牌是京A12345"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // A second survey's invitation, still pending at the erasure.
    let other = survey(&app, false).await;
    app.set_now("2027-03-01T10:00:00+08:00");
    let pending = invite(&app, &app.admin, &other, &people).await;
    let pending = tokens(&pending);

    let (st, v) = app
        .get(&format!("/api/v1/customers/{c}/export"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["tickets"][0]["description"],
        "我住在幸福路 8 号，加油量不对"
    );
    assert_eq!(v["tickets"][0]["category"], "metering");
    assert_eq!(
        v["survey_answers"][0]["answers"],
        json!([9, 5, "短", "我的车牌是京A12345"])
    );

    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{c}/anonymize"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = app
        .get(&format!("/api/v1/customers/{c}/export"), &app.admin)
        .await;
    let text = v.to_string();
    for gone in ["幸福路", "京A12345", "张先生"] {
        assert!(!text.contains(gone), "{gone} survived the erasure: {text}");
    }
    assert_eq!(v["survey_answers"][0]["answers"], json!([]));
    let (_, t) = app
        .get(&format!("/api/v1/tickets/{ticket}"), &app.admin)
        .await;
    assert!(
        !t.to_string().contains("幸福路") && !t.to_string().contains("张先生"),
        "{t}"
    );
    // The scores still count; the pending invitation is spent.
    let (_, r) = app
        .get(&format!("/api/v1/surveys/{id}/results"), &app.admin)
        .await;
    assert_eq!(
        (r["responses"].as_i64(), r["nps"].as_f64()),
        (Some(1), Some(100.0)),
        "{r}"
    );
    let (st, v) = app
        .call(
            "POST",
            &format!("/api/v1/survey-responses/{}", pending[0]),
            None,
            Some(json!({"answers": [3, 2, "长", ""]})),
        )
        .await;
    assert_eq!(st, StatusCode::GONE, "{v}");
}

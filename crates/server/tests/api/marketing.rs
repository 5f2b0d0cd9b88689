//! Segments, campaigns and the contact rules through the API (SPEC "Marketing", issue 17
//! items 1–3): filters and their errors, segments kept to the creator's scope, a
//! campaign's hold-out assigned by a stable hash and never contacted, launches that send
//! once under parallel requests, the frequency cap over three campaigns launched at
//! once, consent and the do-not-contact list, conversions and the uplift in the
//! results, and the unsubscribe link (GET changes nothing, POST unsubscribes).

use crate::harness::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use forecourt_core::contact::in_campaign_holdout;
use forecourt_core::uplift::conversion_uplift;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// `n` members at `station`, with phones from `first_phone`, tagged and consenting as
/// given.
async fn members(
    app: &App,
    n: usize,
    station: &str,
    first_phone: u64,
    tags: Value,
    consent: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n as u64 {
        out.push(
            app.customer(
                "individual",
                &format!("{}", first_phone + i),
                json!({"home_station": station, "tags": tags, "consent_marketing": consent}),
            )
            .await,
        );
    }
    out
}

async fn segment(app: &App, token: &str, filter: Value) -> (String, u64) {
    let (st, v) = app
        .post(
            "/api/v1/segments",
            token,
            json!({"name": "测试细分", "filter": filter}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().unwrap().to_string(),
        v["size"].as_u64().unwrap(),
    )
}

async fn campaign(app: &App, segment: &str, holdout: u32, channel: &str) -> String {
    let (st, v) = app
        .post(
            "/api/v1/campaigns",
            &app.admin,
            json!({"name": "周四加油提醒", "segment_id": segment, "holdout_percent": holdout, "channel": channel,
                   "message": "{name}您好，本周五加油{offer}", "offer": {"bonus_points": 200, "until": "2026-11-30"},
                   "attribution_days": 14}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], "draft");
    v["id"].as_str().unwrap().to_string()
}

async fn launch(app: &App, id: &str) -> Value {
    let (st, v) = app
        .post(
            &format!("/api/v1/campaigns/{id}/launch"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// Launches each campaign `times` times, all requests at once (each on its own task).
async fn launch_at_once(app: &App, ids: &[String], times: usize) -> Vec<Value> {
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        for _ in 0..times {
            let router = app.router.clone();
            let req = Request::post(format!("/api/v1/campaigns/{id}/launch"))
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            tasks.spawn(async move {
                let res = router.oneshot(req).await.unwrap();
                let st = res.status();
                let bytes = res.into_body().collect().await.unwrap().to_bytes();
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(st, StatusCode::OK, "{v}");
                v
            });
        }
    }
    tasks.join_all().await
}

async fn results(app: &App, id: &str) -> Value {
    let (st, v) = app
        .get(&format!("/api/v1/campaigns/{id}/results"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// The inbox messages of one member.
async fn inbox_of(app: &App, customer: &str) -> usize {
    app.store.inbox(customer, 100).await.unwrap().len()
}

#[tokio::test]
async fn filters_are_checked_and_segments_keep_to_the_creators_scope() {
    let app = spawn_app().await;
    let taxis = members(&app, 3, "S001", 13_900_000_001, json!(["taxi"]), true).await;
    members(&app, 2, "S001", 13_900_000_101, json!([]), false).await;
    members(&app, 4, "S002", 13_900_000_201, json!(["taxi"]), true).await;

    let (_, size) = segment(&app, &app.admin, json!({"tags_any": ["taxi"]})).await;
    assert_eq!(size, 7);
    let (st, v) = app
        .post(
            "/api/v1/segments/preview",
            &app.admin,
            json!({"filter": {"tags_any": ["taxi"], "home_station_in": ["S001"], "consent_marketing": true}}),
        )
        .await;
    assert_eq!((st, v["size"].as_u64()), (StatusCode::OK, Some(3)), "{v}");
    let (_, v) = app
        .post(
            "/api/v1/segments/preview",
            &app.admin,
            json!({"filter": {"region_in": ["R2"], "tier_in": ["standard"]}}),
        )
        .await;
    assert_eq!(v["size"], 4, "{v}");
    // Nobody has bought: behaviour filters hold nobody.
    let (_, v) = app
        .post(
            "/api/v1/segments/preview",
            &app.admin,
            json!({"filter": {"visits_min": 1, "window_days": 30}}),
        )
        .await;
    assert_eq!(v["size"], 0, "{v}");

    for (filter, needle) in [
        (json!({"tag_any": ["taxi"]}), "unknown field `tag_any`"),
        (json!({"rfm_segment_in": ["vip"]}), "filter.rfm_segment_in"),
        (
            json!({"last_visit_before": "20.11.2026"}),
            "filter.last_visit_before",
        ),
        (json!({"churn_risk_min": 1.5}), "filter.churn_risk_min"),
        (json!({"tier_in": []}), "filter.tier_in"),
        (json!({"visits_min": "two"}), "filter"),
    ] {
        let (st, v) = app
            .post(
                "/api/v1/segments",
                &app.admin,
                json!({"name": "坏的", "filter": filter}),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{filter}: {v}");
        assert_eq!(code(&v), "invalid_filter", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{filter}: {v}"
        );
    }

    // A station manager's segment holds their station's members only, and the
    // company's segment is not theirs to see.
    let (_, manager) = app
        .scoped_user("mk-s001", "station_manager", "station:S001")
        .await;
    let (own, size) = segment(&app, &manager, json!({"tags_any": ["taxi"]})).await;
    assert_eq!(size, 3);
    let (st, v) = app
        .get(&format!("/api/v1/segments/{own}/members?page=1"), &manager)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut listed: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut want: Vec<&str> = taxis.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(listed, want);
    let (company, _) = segment(&app, &app.admin, json!({})).await;
    let (st, v) = app
        .get(&format!("/api/v1/segments/{company}"), &manager)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "segment_not_found"));
    let (_, v) = app.get("/api/v1/segments", &manager).await;
    assert_eq!(v["segments"].as_array().unwrap().len(), 1, "{v}");
    // The admin sees both, and the station's segment through its own scope.
    let (st, v) = app
        .get(&format!("/api/v1/segments/{own}"), &app.admin)
        .await;
    assert_eq!((st, v["size"].as_u64()), (StatusCode::OK, Some(3)), "{v}");
    // A cashier may not market.
    let (_, cashier) = app.scoped_user("mk-cash", "cashier", "station:S001").await;
    let (st, _) = app
        .post("/api/v1/segments/preview", &cashier, json!({"filter": {}}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Writes are audited.
    let (_, v) = app.get("/api/v1/audit?limit=50", &app.admin).await;
    assert!(v.to_string().contains("segment.create"), "{v}");
}

/// A 10 % hold-out by the stable hash: the held-out members get nothing, the treated
/// get one message each; four parallel launches send once.
#[tokio::test]
async fn a_launch_holds_out_by_hash_sends_once_and_reports() {
    let app = spawn_app().await;
    let ids = members(&app, 60, "S001", 13_910_000_001, json!(["commuter"]), true).await;
    let (seg, size) = segment(&app, &app.admin, json!({"tags_any": ["commuter"]})).await;
    assert_eq!(size, 60);
    let id = campaign(&app, &seg, 10, "inbox").await;
    let answers = launch_at_once(&app, std::slice::from_ref(&id), 4).await;
    for a in &answers {
        assert_eq!(a["state"], "launched", "{a}");
        assert_eq!(a["targeted"], 60, "{a}");
    }
    let held: Vec<&String> = ids
        .iter()
        .filter(|m| in_campaign_holdout(&id, m, 10))
        .collect();
    for m in &ids {
        let n = inbox_of(&app, m).await;
        if held.contains(&m) {
            assert_eq!(n, 0, "a held-out member got a message");
        } else {
            assert_eq!(n, 1, "a treated member gets exactly one message");
        }
    }
    let one = app.store.inbox(&ids[0], 1).await.unwrap();
    if let Some(m) = one.first() {
        assert!(m.body.contains("赠送 200 积分"), "{}", m.body);
        assert!(m.body.contains("/u/"), "the unsubscribe link: {}", m.body);
    }
    let r = results(&app, &id).await;
    assert_eq!(r["targeted"], 60);
    assert_eq!(r["holdout"], held.len());
    assert_eq!(r["sent"], 60 - held.len(), "{r}");
    assert_eq!(r["treated"]["members"], 60 - held.len());
    assert_eq!(r["suppressed"]["no_consent"], 0);
    // A re-launch changes nothing.
    launch(&app, &id).await;
    assert_eq!(results(&app, &id).await["sent"], r["sent"]);
    let (_, v) = app.get("/api/v1/audit?limit=50", &app.admin).await;
    let launches = v.to_string().matches("campaign.launch").count();
    assert_eq!(launches, 1, "one launch is audited: {v}");
}

/// Frequency cap 2 per 7 days: three campaigns launched at once deliver exactly two
/// messages to each member; the third is recorded as suppressed by the cap.
#[tokio::test]
async fn three_campaigns_at_once_respect_the_frequency_cap() {
    let app = spawn_app().await;
    let ids = members(&app, 8, "S002", 13_920_000_001, json!(["fleet"]), true).await;
    let (seg, _) = segment(&app, &app.admin, json!({"tags_any": ["fleet"]})).await;
    let mut cs = Vec::new();
    for _ in 0..3 {
        cs.push(campaign(&app, &seg, 0, "inbox").await);
    }
    launch_at_once(&app, &cs, 1).await;
    for m in &ids {
        assert_eq!(inbox_of(&app, m).await, 2, "two messages each");
    }
    let mut capped = 0;
    let mut sent = 0;
    for c in &cs {
        let r = results(&app, c).await;
        capped += r["suppressed"]["frequency_cap"].as_i64().unwrap();
        sent += r["sent"].as_i64().unwrap();
    }
    assert_eq!((sent, capped), (16, 8));
}

/// Members without consent, or on the channel's do-not-contact list, get no
/// marketing; the reasons are counted.
#[tokio::test]
async fn consent_and_the_do_not_contact_list_suppress() {
    let app = spawn_app().await;
    let yes = members(&app, 3, "S001", 13_930_000_001, json!(["wash"]), true).await;
    let no = members(&app, 2, "S001", 13_930_000_101, json!(["wash"]), false).await;
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{}/do-not-contact", yes[0]),
            &app.admin,
            json!({"channel": "inbox", "reason": "complained"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["entries"][0]["reason"], "complained");
    let (st, v) = app
        .post(
            &format!("/api/v1/customers/{}/do-not-contact", yes[0]),
            &app.admin,
            json!({"channel": "fax", "reason": "manual"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (seg, _) = segment(&app, &app.admin, json!({"tags_any": ["wash"]})).await;
    let id = campaign(&app, &seg, 0, "inbox").await;
    launch(&app, &id).await;
    assert_eq!(inbox_of(&app, &yes[0]).await, 0);
    for m in &no {
        assert_eq!(inbox_of(&app, m).await, 0);
    }
    for m in &yes[1..] {
        assert_eq!(inbox_of(&app, m).await, 1);
    }
    let r = results(&app, &id).await;
    assert_eq!(r["suppressed"]["no_consent"], 2, "{r}");
    assert_eq!(r["suppressed"]["do_not_contact"], 1, "{r}");
    assert_eq!(r["sent"], 2, "{r}");
    // SMS to members without a phone: none here (every member has one), so an SMS
    // campaign queues for the consenting members not on the SMS list.
    let sms = campaign(&app, &seg, 0, "sms").await;
    let r = launch(&app, &sms).await;
    assert_eq!(r["queued"], 3, "{r}");
}

/// Conversions within the attribution window, and the uplift as the core computes it.
#[tokio::test]
async fn results_count_conversions_in_the_window() {
    let app = spawn_app().await;
    let ids = members(&app, 40, "S001", 13_940_000_001, json!(["winback"]), true).await;
    let (seg, _) = segment(&app, &app.admin, json!({"tags_any": ["winback"]})).await;
    let id = campaign(&app, &seg, 30, "inbox").await;
    launch(&app, &id).await;
    let treated: Vec<&String> = ids
        .iter()
        .filter(|m| !in_campaign_holdout(&id, m, 30))
        .collect();
    let control: Vec<&String> = ids
        .iter()
        .filter(|m| in_campaign_holdout(&id, m, 30))
        .collect();
    assert!(!treated.is_empty() && control.len() >= 2);
    // Four treated members and one control member buy after the launch.
    let buyers: Vec<&String> = treated
        .iter()
        .take(4)
        .copied()
        .chain(control.iter().take(1).copied())
        .collect();
    for (i, c) in buyers.iter().enumerate() {
        let card = app
            .card(json!({"customer_id": c, "kind": "personal"}))
            .await;
        let (st, v) = app.recharge(&card, 50_000, &format!("R-{i}")).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let (st, v) = app
            .card_sale(&card, "GASOLINE_92", 20_000, &format!("S-{i}"), json!({}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let r = results(&app, &id).await;
    assert_eq!(r["treated"]["converted"], 4, "{r}");
    assert_eq!(r["control"]["converted"], 1, "{r}");
    assert_eq!(r["control"]["small"], true);
    let want = conversion_uplift(4, treated.len() as u64, 1, control.len() as u64).unwrap();
    assert!((r["uplift"].as_f64().unwrap() - want.estimate).abs() < 1e-12);
    assert!((r["uplift_ci95"][0].as_f64().unwrap() - want.low).abs() < 1e-12);
    assert!((r["uplift_ci95"][1].as_f64().unwrap() - want.high).abs() < 1e-12);
    assert!(r["treated"]["spend_fen"].as_i64().unwrap() > 0);
    assert!(r["spend_per_member_diff_ci95"].is_array(), "{r}");
    // After the window, a sale no longer counts.
    app.set_now("2026-12-20T10:00:00+08:00");
    let r2 = results(&app, &id).await;
    assert_eq!(r2["treated"]["converted"], 4);
}

async fn page(app: &App, method: &str, path: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("List-Unsubscribe=One-Click"))
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let st = res.status();
    let b = res.into_body().collect().await.unwrap().to_bytes();
    (st, String::from_utf8_lossy(&b).into_owned())
}

/// The link of a marketing message: GET shows a page and changes nothing (a link
/// scanner unsubscribes nobody), POST unsubscribes (RFC 8058 one-click, no session), a
/// forged token is refused.
#[tokio::test]
async fn the_unsubscribe_link_confirms_on_get_and_unsubscribes_on_post() {
    let app = spawn_app().await;
    let ids = members(&app, 1, "S001", 13_950_000_001, json!(["u"]), true).await;
    let (seg, _) = segment(&app, &app.admin, json!({"tags_any": ["u"]})).await;
    let id = campaign(&app, &seg, 0, "inbox").await;
    launch(&app, &id).await;
    let body = app.store.inbox(&ids[0], 1).await.unwrap()[0].body.clone();
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/u/"))
        .unwrap()
        .to_string();
    let path = &link[link.find("/u/").unwrap()..];
    let (st, html) = page(&app, "GET", path).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("确认退订"), "{html}");
    let (_, v) = app
        .get(
            &format!("/api/v1/customers/{}/do-not-contact", ids[0]),
            &app.admin,
        )
        .await;
    assert_eq!(v["entries"], json!([]), "GET changed nothing");
    let (st, html) = page(&app, "POST", path).await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert!(html.contains("已退订"), "{html}");
    let (_, v) = app
        .get(
            &format!("/api/v1/customers/{}/do-not-contact", ids[0]),
            &app.admin,
        )
        .await;
    assert_eq!(v["entries"][0]["reason"], "unsubscribed", "{v}");
    assert_eq!(v["entries"][0]["channel"], "inbox", "{v}");
    // Twice is once.
    assert_eq!(page(&app, "POST", path).await.0, StatusCode::OK);
    // A token for another member or channel cannot be made from this one.
    let forged = path.replace(".inbox.", ".sms.");
    assert_eq!(page(&app, "POST", &forged).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        page(&app, "GET", "/u/nothing").await.0,
        StatusCode::NOT_FOUND
    );
    // The next campaign skips the member.
    let next = campaign(&app, &seg, 0, "inbox").await;
    launch(&app, &next).await;
    assert_eq!(
        results(&app, &next).await["suppressed"]["do_not_contact"],
        1
    );
}

#[tokio::test]
async fn settings_are_admins_and_checked() {
    let app = spawn_app().await;
    let (st, v) = app.get("/api/v1/marketing/settings", &app.admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        v,
        json!({"frequency_cap": 2, "frequency_cap_days": 7, "quiet_start": "21:00", "quiet_end": "08:00", "global_holdout_percent": 0})
    );
    let (st, v) = app
        .put(
            "/api/v1/marketing/settings",
            &app.admin,
            json!({"frequency_cap": 1, "frequency_cap_days": 7, "quiet_start": "25:00", "quiet_end": "08:00", "global_holdout_percent": 5}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (_, manager) = app
        .scoped_user("mk-set", "station_manager", "station:S001")
        .await;
    let (st, _) = app
        .put(
            "/api/v1/marketing/settings",
            &manager,
            json!({"frequency_cap": 1, "frequency_cap_days": 7, "quiet_start": "22:00", "quiet_end": "08:00", "global_holdout_percent": 5}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // A global hold-out of 20 %: its members are targeted but neither treated nor
    // control, and get nothing.
    let (st, _) = app
        .put(
            "/api/v1/marketing/settings",
            &app.admin,
            json!({"frequency_cap": 2, "frequency_cap_days": 7, "quiet_start": "21:00", "quiet_end": "08:00", "global_holdout_percent": 20}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let ids = members(&app, 30, "S001", 13_960_000_001, json!(["g"]), true).await;
    let (seg, _) = segment(&app, &app.admin, json!({"tags_any": ["g"]})).await;
    let id = campaign(&app, &seg, 0, "inbox").await;
    launch(&app, &id).await;
    let global: Vec<&String> = ids
        .iter()
        .filter(|m| forecourt_core::contact::in_global_holdout(m, 20))
        .collect();
    for m in &global {
        assert_eq!(inbox_of(&app, m).await, 0);
    }
    let r = results(&app, &id).await;
    assert_eq!(r["global_holdout"], global.len());
    assert_eq!(r["treated"]["members"], 30 - global.len());
}

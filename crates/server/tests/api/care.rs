//! Care automations (关怀) through the router: a birthday greeting goes once however
//! often a day is run, and over a whole year every member with marketing consent gets
//! exactly one (a 29 February birthday on 28 February); members without consent get
//! none. The first-visit thank-you, the low-balance reminder and the tier change each
//! go once per period, and only the roles that run promotions see or change them.

use crate::harness::*;
use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate};
use serde_json::{json, Value};

async fn only(app: &App, kinds: &[&str]) {
    for a in [
        "birthday",
        "refuel_reminder",
        "first_visit",
        "low_balance",
        "win_back",
        "tier_change",
        "coupon_expiring",
    ] {
        let (st, v) = app
            .call(
                "PATCH",
                &format!("/api/v1/care/automations/{a}"),
                Some(&app.admin),
                Some(json!({"enabled": kinds.contains(&a)})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
}

async fn run(app: &App, date: NaiveDate) -> Value {
    let (st, v) = app
        .post(
            "/api/v1/care/runs",
            &app.admin,
            json!({"date": date.to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

fn part<'a>(run: &'a Value, kind: &str) -> &'a Value {
    run["automations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {run}"))
}

/// Every care message of `customer` whose cause starts with `care:{kind}:`.
async fn messages_of(app: &App, kind: &str, customer: &str) -> Vec<String> {
    app.store
        .care_messages(&format!("care:{kind}:"), 100_000, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.customer_id.as_deref() == Some(customer))
        .map(|m| m.cause)
        .collect()
}

#[tokio::test]
async fn birthdays_are_greeted_once_a_day_and_once_a_year_and_only_with_consent() {
    let app = spawn_app().await;
    only(&app, &["birthday"]).await;
    // 30 members with consent, born every 12 days of a year; one born on 29 February;
    // three without consent.
    let born = NaiveDate::from_ymd_opt(1990, 1, 3).unwrap();
    let mut with = Vec::new();
    for i in 0..30u64 {
        let b = born + chrono::Days::new(i * 12);
        let id = app
            .customer(
                "individual",
                &format!("1391000{i:04}"),
                json!({"birthday": b.to_string(), "consent_marketing": true}),
            )
            .await;
        with.push((id, b));
    }
    let leap = app
        .customer(
            "individual",
            "13920000001",
            json!({"birthday": "2000-02-29", "consent_marketing": true}),
        )
        .await;
    let mut without = Vec::new();
    for (i, b) in ["1985-03-10", "1992-07-01", "2000-02-29"]
        .iter()
        .enumerate()
    {
        without.push(
            app.customer(
                "individual",
                &format!("1393000000{i}"),
                json!({"birthday": b}),
            )
            .await,
        );
    }

    // A whole common year, each day run twice: the second run of a day sends nothing.
    let mut day = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let mut greeted_days = Vec::new();
    while day.year() == 2027 {
        let first = run(&app, day).await;
        let b = part(&first, "birthday");
        let again = run(&app, day).await;
        let b2 = part(&again, "birthday");
        assert_eq!(b2["queued"], 0, "{day}: the second run queued {b2}");
        assert_eq!(b2["already_sent"], b["queued"], "{day}: {b} then {b2}");
        assert_eq!(b["due"], b2["due"]);
        if b["queued"].as_u64().unwrap() > 0 {
            greeted_days.push(day);
        }
        day = day.succ_opt().unwrap();
    }
    for (id, b) in &with {
        let m = messages_of(&app, "birthday", id).await;
        assert_eq!(m, [format!("care:birthday:2027:{id}")], "born {b}");
    }
    assert_eq!(
        messages_of(&app, "birthday", &leap).await,
        [format!("care:birthday:2027:{leap}")]
    );
    assert!(
        greeted_days.contains(&NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()),
        "the 29 February birthday was greeted on 28 February 2027"
    );
    for id in &without {
        assert!(messages_of(&app, "birthday", id).await.is_empty());
    }
    // The member reads it in the in-app inbox, with their name.
    let inbox = app.store.inbox(&with[0].0, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].body.starts_with("张伟，祝您生日快乐"),
        "{}",
        inbox[0].body
    );
    assert_eq!(inbox[0].subject.as_deref(), Some("生日祝福"));

    // A leap year greets the leap-day member on 29 February, not on the 28th.
    let r = run(&app, NaiveDate::from_ymd_opt(2028, 2, 28).unwrap()).await;
    let before = messages_of(&app, "birthday", &leap).await.len();
    assert_eq!(
        before, 1,
        "nothing for the leap-day member on 28 February 2028: {r}"
    );
    run(&app, NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()).await;
    assert_eq!(messages_of(&app, "birthday", &leap).await.len(), 2);

    let (st, list) = app.get("/api/v1/care/automations", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let b = list["automations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "birthday")
        .unwrap();
    assert_eq!(b["messages"], 32, "30 + the leap-day member twice: {b}");
}

#[tokio::test]
async fn first_visit_low_balance_and_tier_change_go_once_per_period() {
    let app = spawn_app().await;
    only(&app, &["first_visit", "low_balance", "tier_change"]).await;
    let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    // Nothing has happened yet: the tier automation records every member's tier.
    let mut cards = Vec::new();
    for (i, consent) in [true, false].iter().enumerate() {
        let c = app
            .customer(
                "individual",
                &format!("1395000000{i}"),
                json!({"consent_marketing": consent}),
            )
            .await;
        let no = app
            .card(json!({"customer_id": c, "kind": "personal"}))
            .await;
        let (st, v) = app.recharge(&no, 20_000, &format!("R-{i}")).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        cards.push((c, no));
    }
    let r = run(&app, today).await;
    assert_eq!(part(&r, "tier_change")["due"], 0, "{r}");
    assert_eq!(part(&r, "first_visit")["due"], 0, "{r}");
    assert_eq!(part(&r, "low_balance")["due"], 0, "200 元 is not low: {r}");

    // Each buys 20 litres with the card: a first visit, and the card under 100 元.
    for (i, (_, no)) in cards.iter().enumerate() {
        let (st, v) = app
            .card_sale(no, "GASOLINE_92", 20_000, &format!("S-{i}"), json!({}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let balance = app.balance(&cards[0].1).await;
    assert!(balance < 10_000, "{balance}");
    let r = run(&app, today).await;
    for kind in ["first_visit", "low_balance"] {
        let p = part(&r, kind);
        assert_eq!(
            (
                p["due"].as_u64(),
                p["queued"].as_u64(),
                p["no_consent"].as_u64()
            ),
            (Some(2), Some(1), Some(1)),
            "{kind}: {p}"
        );
    }
    let inbox = app.store.inbox(&cards[0].0, 10).await.unwrap();
    let low = inbox
        .iter()
        .find(|m| m.subject.as_deref() == Some("余额提醒"))
        .expect("the low-balance reminder");
    let tail = &cards[0].1[cards[0].1.len() - 4..];
    let want = format!(
        "尾号{tail}）余额仅剩{}.{:02}元",
        balance / 100,
        balance % 100
    );
    assert!(low.body.contains(&want), "{} lacks {want}", low.body);
    assert!(app.store.inbox(&cards[1].0, 10).await.unwrap().is_empty());

    // The next day: the first visit was thanked, the card was reminded this month.
    let r = run(&app, today.succ_opt().unwrap()).await;
    assert_eq!(part(&r, "first_visit")["queued"], 0, "{r}");
    assert_eq!(part(&r, "low_balance")["queued"], 0, "{r}");
    assert_eq!(part(&r, "low_balance")["already_sent"], 1, "{r}");
    // A new month reminds again.
    let r = run(&app, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()).await;
    assert_eq!(part(&r, "low_balance")["queued"], 1, "{r}");

    // A tier change is announced once, with the tier's name.
    let tiers = app.store.tiers().await.unwrap();
    let upper = tiers.iter().max_by_key(|t| t.rank).unwrap();
    let mut tx = app.store.begin().await.unwrap();
    tx.set_tier_state(&cards[0].0, &upper.code, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Ten days on, outside the frequency cap's week of the two messages above.
    let later = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
    let r = run(&app, later).await;
    assert_eq!(part(&r, "tier_change")["queued"], 1, "{r}");
    let r = run(&app, later).await;
    assert_eq!(part(&r, "tier_change")["due"], 0, "{r}");
    let inbox = app.store.inbox(&cards[0].0, 10).await.unwrap();
    let tier = inbox
        .iter()
        .find(|m| m.subject.as_deref() == Some("会员等级变更"))
        .unwrap();
    assert!(tier.body.contains(&upper.name), "{}", tier.body);

    // What each automation sent is listed, by member code.
    let (st, v) = app
        .get("/api/v1/care/automations/first_visit/messages", &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["messages"][0]["customer_id"], cards[0].0.as_str());
    assert!(v["messages"][0]["member_code"].is_string());
}

#[tokio::test]
async fn only_promotion_managers_see_or_change_automations_and_bad_input_changes_nothing() {
    let app = spawn_app().await;
    let (_, manager) = app
        .scoped_user("mgr", "station_manager", "station:S001")
        .await;
    let cashier = app.user("till", "cashier").await;
    for token in [&manager, &cashier] {
        let (st, v) = app.get("/api/v1/care/automations", token).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        let (st, v) = app
            .call(
                "PATCH",
                "/api/v1/care/automations/birthday",
                Some(token),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        let (st, v) = app.post("/api/v1/care/runs", token, json!({})).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    }
    let patch = |kind: &'static str, body: Value| {
        let app = &app;
        async move {
            app.call(
                "PATCH",
                &format!("/api/v1/care/automations/{kind}"),
                Some(&app.admin),
                Some(body),
            )
            .await
        }
    };
    let (st, v) = patch("nope", json!({"enabled": false})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "automation_not_found")
    );
    for body in [
        json!({"threshold": 5}),
        json!({"channel": "fax"}),
        json!({"message": "  "}),
        json!({"message": "a\u{0}b"}),
    ] {
        let (st, v) = patch("birthday", body.clone()).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{body}: {v}"
        );
    }
    let (st, v) = patch("low_balance", json!({"threshold": 0})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, list) = app.get("/api/v1/care/automations", &app.admin).await;
    let b = &list["automations"][0];
    assert_eq!(
        (&b["kind"], &b["enabled"], &b["channel"], &b["updated_at"]),
        (
            &json!("birthday"),
            &json!(true),
            &json!("inbox"),
            &Value::Null
        ),
        "refused changes changed nothing: {b}"
    );
    let (st, v) = patch(
        "low_balance",
        json!({"threshold": 5_000, "channel": "sms", "message": "{name}：{detail}"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["threshold"], &v["channel"]),
        (&json!(5_000), &json!("sms"))
    );
    let (st, v) = app
        .post(
            "/api/v1/care/runs",
            &app.admin,
            json!({"date": "2026-13-01"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn a_coupon_is_announced_once_within_its_last_days_and_not_after_it_lapses() {
    let app = spawn_app().await;
    only(&app, &["coupon_expiring"]).await;
    let c = app
        .customer(
            "individual",
            "13970000001",
            json!({"consent_marketing": true}),
        )
        .await;
    // Ends at the end of 25 November (network time): announced from the 23rd with the
    // default of 3 days, not on the 22nd.
    for (code, until) in [
        ("CARE-A", "2026-11-26T00:00:00+08:00"),
        ("CARE-B", "2026-12-31T00:00:00+08:00"),
    ] {
        let (st, v) = app
            .post(
                "/api/v1/coupons",
                &app.admin,
                json!({"code": code, "customer_id": c, "amount_fen": 1_000, "valid_from": "2026-11-01T00:00:00+08:00", "valid_until": until}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let r = run(&app, NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()).await;
    assert_eq!(part(&r, "coupon_expiring")["due"], 0, "{r}");
    for (day, queued) in [(23, 1), (24, 0), (25, 0)] {
        let r = run(&app, NaiveDate::from_ymd_opt(2026, 11, day).unwrap()).await;
        let p = part(&r, "coupon_expiring");
        assert_eq!(p["queued"], queued, "{day} Nov: {p}");
        assert_eq!(p["due"], 1, "{day} Nov: {p}");
    }
    let inbox = app.store.inbox(&c, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].body.contains("（10.00元）将于2026年11月25日到期"),
        "{}",
        inbox[0].body
    );
    let r = run(&app, NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()).await;
    assert_eq!(part(&r, "coupon_expiring")["due"], 0, "lapsed: {r}");
}

#[tokio::test]
async fn parallel_runs_of_a_day_greet_each_member_once() {
    let app = spawn_app().await;
    only(&app, &["birthday"]).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            app.customer(
                "individual",
                &format!("1398000{i:04}"),
                json!({"birthday": "1991-03-15", "consent_marketing": true}),
            )
            .await,
        );
    }
    // Six runs of the same day at once, each on its own task through the router.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (router, token) = (app.router.clone(), app.admin.clone());
        tasks.spawn(async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let req = axum::http::Request::post("/api/v1/care/runs")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::from(r#"{"date": "2027-03-15"}"#))
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        });
    }
    let runs = tasks.join_all().await;
    let queued: u64 = runs
        .iter()
        .map(|r| part(r, "birthday")["queued"].as_u64().unwrap())
        .sum();
    assert_eq!(queued, 12, "six parallel runs queued {queued}: {runs:?}");
    for id in &ids {
        assert_eq!(messages_of(&app, "birthday", id).await.len(), 1, "{id}");
        assert_eq!(app.store.inbox(id, 10).await.unwrap().len(), 1, "{id}");
    }
}

//! The service desk through the API (SPEC "Service desk", issue 16 acceptance 1, 2 and
//! 4): business-time due dates on a station's calendar with holidays and a make-up
//! working day, waits that pause the clock, callbacks before a complaint closes, reopen
//! within 7 days, the workflow's refusals, scope, and concurrent steps. The server's
//! clock stands at `NOW` (Friday 2026-11-20 08:30 +08:00) unless a test moves it.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

async fn scoped_user(app: &App, name: &str, role: &str, scope: &str) -> String {
    app.scoped_user(name, role, scope).await.1
}

/// Station S001 on an office calendar: Monday to Friday 08:00–18:00 in Shanghai, 1–7
/// October 2026 off, Saturday 10 October worked; first response due in 240 business
/// minutes and resolution in 1,440 for `normal`.
async fn office_calendar(app: &App) {
    let (st, v) = app
        .put(
            "/api/v1/calendars/office",
            &app.admin,
            json!({
                "timezone": "Asia/Shanghai",
                "hours": {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]],
                          "thu": [["08:00", "18:00"]], "fri": [["08:00", "18:00"]], "sat": [], "sun": []},
                "holidays": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07"],
                "workdays": ["2026-10-10"],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["workdays"], json!(["2026-10-10"]));
    let (st, v) = app
        .put(
            "/api/v1/stations/S001/calendar",
            &app.admin,
            json!({"calendar": "office"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = app
        .put(
            "/api/v1/sla-policies/normal",
            &app.admin,
            json!({"first_response_minutes": 240, "resolution_minutes": 1440}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

async fn open(app: &App, token: &str, kind: &str, opened_at: Option<&str>) -> Value {
    let mut body = json!({"kind": kind, "channel": "phone", "station_code": "S001", "category": "metering",
        "severity": "normal", "description": "加油量与显示不符"});
    if let Some(at) = opened_at {
        body["opened_at"] = json!(at);
    }
    let (st, v) = app.post("/api/v1/tickets", token, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v
}

async fn step(app: &App, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/tickets/{id}/events"), token, body)
        .await
}

async fn ok_step(app: &App, id: &str, body: Value) -> Value {
    let (st, v) = step(app, &app.admin, id, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{body}: {v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn first_response_is_due_in_business_time_across_holidays_and_a_make_up_workday() {
    let app = spawn_app().await;
    office_calendar(&app).await;
    // 17:00–18:00 on 30 September, 1–7 October off, then 08:00–11:00 on Thursday 8th.
    let v = open(
        &app,
        &app.admin,
        "complaint",
        Some("2026-09-30T17:00:00+08:00"),
    )
    .await;
    assert_eq!(v["state"], "accepted");
    assert_eq!(v["opened_at"], "2026-09-30T09:00:00Z");
    assert_eq!(v["first_response_due_at"], "2026-10-08T03:00:00Z", "{v}");
    // 17:00–18:00 on Friday 9th, then Saturday 10th is worked: due at 11:00 that day.
    let v = open(
        &app,
        &app.admin,
        "complaint",
        Some("2026-10-09T17:00:00+08:00"),
    )
    .await;
    assert_eq!(v["first_response_due_at"], "2026-10-10T03:00:00Z", "{v}");
    // Both were missed long before the server's now, and a reading says so.
    let (st, v) = app
        .get(&format!("/api/v1/tickets/{}", id(&v)), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["breached"], true);
    assert_eq!(v["events"][0]["action"], "open");

    // A time in the future is refused; so is a calendar that does not parse.
    let (st, v) = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"kind": "complaint", "channel": "phone", "station_code": "S001", "category": "metering",
                   "severity": "normal", "description": "x", "opened_at": "2026-11-20T09:00:00+08:00"}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    let (st, v) = app
        .put(
            "/api/v1/calendars/bad",
            &app.admin,
            json!({"timezone": "Asia/Shanghai", "hours": {"mon": [["18:00", "18:00"]]}}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
}

#[tokio::test]
async fn two_waits_of_two_business_hours_move_the_resolution_by_four() {
    let app = spawn_app().await;
    office_calendar(&app).await;
    let opened = "2026-11-16T09:00:00+08:00";
    let plain = open(&app, &app.admin, "inquiry", Some(opened)).await;
    // 1,440 business minutes from Monday 09:00: 9 h Monday, 10 h Tuesday, 5 h Wednesday.
    assert_eq!(
        plain["resolution_due_at"], "2026-11-18T05:00:00Z",
        "{plain}"
    );

    let t = id(&open(&app, &app.admin, "inquiry", Some(opened)).await);
    ok_step(
        &app,
        &t,
        json!({"action": "investigate", "at": "2026-11-16T09:30:00+08:00"}),
    )
    .await;
    ok_step(
        &app,
        &t,
        json!({"action": "wait_customer", "at": "2026-11-16T10:00:00+08:00", "note": "请提供小票"}),
    )
    .await;
    ok_step(
        &app,
        &t,
        json!({"action": "resume", "at": "2026-11-16T12:00:00+08:00"}),
    )
    .await;
    // The second wait spans the night: 17:00–18:00 Tuesday and 08:00–09:00 Wednesday.
    ok_step(
        &app,
        &t,
        json!({"action": "wait_customer", "at": "2026-11-17T17:00:00+08:00"}),
    )
    .await;
    let v = ok_step(
        &app,
        &t,
        json!({"action": "resume", "at": "2026-11-18T09:00:00+08:00"}),
    )
    .await;
    assert_eq!(v["state"], "investigating");
    assert_eq!(v["paused_business_minutes"], 240, "{v}");
    // Four business hours after Wednesday 13:00 is 17:00.
    assert_eq!(v["resolution_due_at"], "2026-11-18T09:00:00Z", "{v}");
    assert_eq!(
        v["first_response_at"], "2026-11-16T02:00:00Z",
        "a question to the customer is a response"
    );
}

#[tokio::test]
async fn a_complaint_closes_after_a_callback_and_reopens_on_the_same_clock_within_seven_days() {
    let app = spawn_app().await;
    office_calendar(&app).await;
    let t = id(&open(
        &app,
        &app.admin,
        "complaint",
        Some("2026-11-16T09:00:00+08:00"),
    )
    .await);
    for (action, at) in [
        ("respond", "2026-11-16T09:10:00+08:00"),
        ("investigate", "2026-11-16T09:20:00+08:00"),
        ("propose", "2026-11-16T10:00:00+08:00"),
        ("implement", "2026-11-16T11:00:00+08:00"),
    ] {
        ok_step(&app, &t, json!({"action": action, "at": at})).await;
    }
    let (st, v) = step(
        &app,
        &app.admin,
        &t,
        json!({"action": "close", "at": "2026-11-16T13:00:00+08:00"}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "callback_required"),
        "{v}"
    );
    // Three failed attempts are an outcome; two are not.
    for (i, at) in ["14:00", "15:00", "16:00"].iter().enumerate() {
        let v = ok_step(&app, &t, json!({"action": "unreachable", "at": format!("2026-11-16T{at}:00+08:00"), "note": "无人接听"})).await;
        assert_eq!(v["state"], "callback");
        if i < 2 {
            let (st, v) = step(
                &app,
                &app.admin,
                &t,
                json!({"action": "close", "at": format!("2026-11-16T{at}:00+08:00")}),
            )
            .await;
            assert_eq!(
                (st, code(&v)),
                (StatusCode::CONFLICT, "callback_required"),
                "{v}"
            );
        }
    }
    let v = ok_step(
        &app,
        &t,
        json!({"action": "close", "at": "2026-11-16T16:30:00+08:00"}),
    )
    .await;
    assert_eq!(v["state"], "closed");
    assert_eq!(
        v["resolved_at"], "2026-11-16T06:00:00Z",
        "the callback stage began at 14:00"
    );
    assert_eq!(v["breached"], false, "{v}");

    // Reopened the next morning: the same ticket, its clock continuing, the time it
    // stood resolved (14:00–18:00 Monday, 08:00–10:00 Tuesday) a pause.
    let v = ok_step(
        &app,
        &t,
        json!({"action": "reopen", "at": "2026-11-17T10:00:00+08:00", "note": "客户再次反映"}),
    )
    .await;
    assert_eq!(v["id"], t.as_str());
    assert_eq!(v["state"], "investigating");
    assert_eq!(v["paused_business_minutes"], 360, "{v}");
    // 1,440 minutes from Monday 09:00 plus 6 business hours: Thursday 09:00.
    assert_eq!(v["resolution_due_at"], "2026-11-19T01:00:00Z", "{v}");
    assert_eq!(
        v["first_response_at"], "2026-11-16T01:10:00Z",
        "the first response stays"
    );
    // The callback is needed again, this time reaching the customer.
    for action in ["propose", "implement"] {
        ok_step(
            &app,
            &t,
            json!({"action": action, "at": "2026-11-17T11:00:00+08:00"}),
        )
        .await;
    }
    let (st, v) = step(
        &app,
        &app.admin,
        &t,
        json!({"action": "close", "at": "2026-11-17T11:00:00+08:00"}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "callback_required"),
        "{v}"
    );
    let (st, v) = step(
        &app,
        &app.admin,
        &t,
        json!({"action": "callback", "at": "2026-11-17T12:00:00+08:00", "csat": 5}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "a callback needs a note: {v}"
    );
    ok_step(
        &app,
        &t,
        json!({"action": "callback", "at": "2026-11-17T12:00:00+08:00", "csat": 5, "note": "满意"}),
    )
    .await;
    let v = ok_step(
        &app,
        &t,
        json!({"action": "close", "at": "2026-11-17T12:30:00+08:00"}),
    )
    .await;
    assert_eq!(v["state"], "closed");
    let closes = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "close")
        .count();
    assert_eq!(closes, 2);
    assert_eq!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "callback")
            .unwrap()["csat"],
        5
    );

    // More than 7 days after the closing, the customer's contact is a new ticket.
    app.set_now("2026-11-25T08:30:00+08:00");
    let (st, v) = step(&app, &app.admin, &t, json!({"action": "reopen"})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "invalid_transition"),
        "{v}"
    );
}

#[tokio::test]
async fn refused_steps_are_invalid_transitions() {
    let app = spawn_app().await;
    let t = id(&open(&app, &app.admin, "suggestion", None).await);
    for action in ["implement", "resume", "reopen", "callback", "unreachable"] {
        let (st, v) = step(&app, &app.admin, &t, json!({"action": action, "csat": if action == "callback" { json!(4) } else { Value::Null }, "note": "x"})).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::CONFLICT, "invalid_transition"),
            "{action}: {v}"
        );
    }
    let (st, v) = step(&app, &app.admin, &t, json!({"action": "teleport"})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );
    // A suggestion needs no callback.
    let v = ok_step(&app, &t, json!({"action": "close"})).await;
    assert_eq!(v["state"], "closed");
    let (st, v) = app.get("/api/v1/tickets/no-such-ticket", &app.admin).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "ticket_not_found"),
        "{v}"
    );
}

#[tokio::test]
async fn tickets_are_read_and_worked_only_within_the_callers_stations() {
    let app = spawn_app().await;
    let cashier1 = scoped_user(&app, "cashier1", "cashier", "station:S001").await;
    let cashier2 = scoped_user(&app, "cashier2", "cashier", "station:S002").await;
    let t = id(&open(&app, &cashier1, "complaint", None).await);
    let (st, v) = step(
        &app,
        &cashier1,
        &t,
        json!({"action": "respond", "assignee": "cashier1"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["assignee"], "cashier1");
    let (st, v) = step(
        &app,
        &cashier1,
        &t,
        json!({"action": "respond", "assignee": "cashier2"}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{v}"
    );

    let (st, v) = app.get(&format!("/api/v1/tickets/{t}"), &cashier2).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = step(&app, &cashier2, &t, json!({"action": "investigate"})).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app.get("/api/v1/tickets", &cashier2).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["tickets"], json!([]));
    let (st, v) = app.get("/api/v1/tickets?station=S001", &cashier2).await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app
        .post(
            "/api/v1/tickets",
            &cashier2,
            json!({"kind": "praise", "channel": "counter", "station_code": "S001", "category": "attitude",
                   "severity": "low", "description": "服务很好"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");

    // Station staff work tickets; calendars and policies are the admins'.
    let (st, v) = app
        .get("/api/v1/tickets?station=S001&state=accepted", &cashier1)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["tickets"][0]["id"], t.as_str());
    assert!(v["tickets"][0].get("events").is_none());
    let (st, v) = app
        .put(
            "/api/v1/sla-policies/high",
            &cashier1,
            json!({"first_response_minutes": 1, "resolution_minutes": 2}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (st, v) = app
        .put(
            "/api/v1/stations/S001/calendar",
            &cashier1,
            json!({"calendar": "default"}),
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
}

#[tokio::test]
async fn breached_tickets_are_listed_and_a_paused_one_does_not_escalate() {
    let app = spawn_app().await;
    office_calendar(&app).await;
    let late = id(&open(
        &app,
        &app.admin,
        "complaint",
        Some("2026-11-16T09:00:00+08:00"),
    )
    .await);
    let fresh = id(&open(&app, &app.admin, "complaint", None).await);
    let (st, v) = app.get("/api/v1/tickets?breached=true", &app.admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ids: Vec<&str> = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![late.as_str()]);
    // Four days of business time late: past the region manager's hour and HQ's four.
    assert_eq!(v["tickets"][0]["escalation_level"], 3, "{v}");
    let (_, v) = app
        .get(&format!("/api/v1/tickets/{fresh}"), &app.admin)
        .await;
    assert_eq!(
        (v["breached"].clone(), v["escalation_level"].clone()),
        (json!(false), json!(0))
    );
    // Friday 08:30 plus 240 business minutes.
    assert_eq!(v["first_response_due_at"], "2026-11-20T04:30:00Z");

    let state = forecourt_server::AppState::new(
        app.store.clone(),
        forecourt_server::Secret::from_bytes([7; 32]),
        forecourt_server::Config::default(),
    );
    let now = at_us("2026-11-20T08:30:00+08:00");
    let due = forecourt_app::service_desk::escalations_due(state.app(), now)
        .await
        .unwrap();
    let levels: Vec<(&str, &str)> = due
        .iter()
        .map(|d| (d.ticket_id.as_str(), d.level.as_str()))
        .collect();
    assert_eq!(
        levels,
        vec![
            (late.as_str(), "station_manager"),
            (late.as_str(), "region_manager"),
            (late.as_str(), "hq")
        ]
    );
    // A level once recorded is not due again.
    let mut tx = app.store.begin().await.unwrap();
    assert!(tx.raise_escalation_level(&late, 2).await.unwrap());
    assert!(!tx.raise_escalation_level(&late, 1).await.unwrap());
    tx.commit().await.unwrap();
    let due = forecourt_app::service_desk::escalations_due(state.app(), now)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|d| d.level.as_str()).collect::<Vec<_>>(),
        vec!["hq"]
    );
    // Waiting for the customer, the ticket escalates no further.
    ok_step(
        &app,
        &late,
        json!({"action": "wait_customer", "at": "2026-11-20T08:00:00+08:00"}),
    )
    .await;
    let due = forecourt_app::service_desk::escalations_due(state.app(), now)
        .await
        .unwrap();
    assert_eq!(due, vec![]);
}

#[tokio::test]
async fn two_concurrent_closes_leave_one_close() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let t = id(&open(&app, &app.admin, "praise", None).await);
        let body = json!({"action": "close", "note": "谢谢"});
        let (a, b) = tokio::join!(
            step(&app, &app.admin, &t, body.clone()),
            step(&app, &app.admin, &t, body.clone())
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{a:?} {b:?}"
        );
        let (_, v) = app.get(&format!("/api/v1/tickets/{t}"), &app.admin).await;
        let closes = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "close")
            .count();
        assert_eq!(closes, 1, "{v}");
    }
}

//! The service desk's escalation job through the outbox to a real SMTP server
//! (aiosmtpd, scripts/smtp_sink.py), on a controllable clock (issue 16 acceptance 3): the
//! 75 % warning reaches the ticket's owner once; a breached ticket escalates to the
//! station manager and then to the region manager, each within 60 s of its deadline, as
//! emails in the server's mailbox; a paused or closed ticket sends nothing; a second run
//! sends nothing again. A callback (回访) due within the hour reminds the station's
//! managers once per attempt. On SQLite, or PostgreSQL with `FORECOURT_TEST_BACKEND=postgres`.

use forecourt_app::clock::Clock;
use forecourt_app::outbox::{message_id_header, Jobs, Settings, SmtpSettings, Worker};
use forecourt_app::service_desk::{self as desk, ContactBody, EventBody, PolicyBody, TicketBody};
use forecourt_app::{App, Config, Secret};
use forecourt_store::{testing, NewStation, StaffUser, Store};
use std::time::{Duration, Instant};

mod far_ends;
use far_ends::{smtp_sink, Sink};

fn at(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_micros()
}

/// Every email in the mailbox as (Message-ID, To).
fn mailbox(dir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir.join("mail/new")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .map(|e| {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            (header("Message-ID: "), header("To: "))
        })
        .collect();
    out.sort();
    out
}

async fn user(app: &App, admin: &StaffUser, name: &str, role: &str, scope: &str) -> StaffUser {
    forecourt_app::network::create_user(app.store(), name, role, Some(scope), "Staff-pass-1234")
        .await
        .unwrap();
    desk::set_staff_contact(
        app,
        admin,
        None,
        name,
        ContactBody {
            email: Some(format!("{name}@example.com")),
            phone: None,
        },
    )
    .await
    .unwrap();
    app.store().user_by_username(name).await.unwrap().unwrap()
}

async fn open(app: &App, admin: &StaffUser, kind: &str) -> String {
    desk::open_ticket(
        app,
        admin,
        None,
        TicketBody {
            kind: kind.into(),
            channel: "counter".into(),
            station_code: "S001".into(),
            category: "metering".into(),
            severity: "normal".into(),
            customer_id: None,
            description: "加油量与显示不符".into(),
            opened_at: None,
        },
    )
    .await
    .unwrap()
    .id
}

async fn step(app: &App, admin: &StaffUser, id: &str, action: &str) {
    desk::apply_event(
        app,
        admin,
        None,
        id,
        EventBody {
            action: action.into(),
            note: Some("ok".into()),
            assignee: None,
            csat: None,
            at: None,
        },
    )
    .await
    .unwrap();
}

/// Ticks the worker until nothing is queued or sending.
async fn drain(worker: &Worker, app: &App) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        worker.tick().await.unwrap();
        let counts = app.store().outbox_counts().await.unwrap();
        if !counts
            .iter()
            .any(|c| c.channel == "email" && c.state != "sent" && c.count > 0)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The email ids of one cause, by recipient.
async fn emails_of(app: &App, cause: &str) -> Vec<(String, String)> {
    app.store()
        .messages_of_cause(cause)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (message_id_header(&m.message_id), m.address.unwrap()))
        .collect()
}

/// A network of two stations (S001 in region R1, S002 in R2) with an admin `boss`
/// reachable by email, on a clock at 2026-11-20 08:30 (+08:00), whose outbox sends to a
/// real SMTP server writing to `dir`.
async fn setup() -> (Sink, std::path::PathBuf, App, Clock, StaffUser) {
    let dir = std::env::temp_dir().join(format!("fc-esc-{}", forecourt_store::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (sink, port) = smtp_sink(&dir).await;
    let url = testing::fresh_db().await.expect("a fresh database");
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    let clock = Clock::fixed(at("2026-11-20T08:30:00+08:00"));
    let app = App::new(
        store,
        Secret::from_bytes([7; 32]),
        Config {
            outbox: Settings {
                smtp: Some(SmtpSettings::parse(&format!("smtp://127.0.0.1:{port}")).unwrap()),
                smtp_from: Some("forecourt@example.com".into()),
                concurrency: 2,
                lease: Duration::from_secs(6),
                ..Settings::default()
            },
            clock: clock.clone(),
            ..Config::default()
        },
    );
    forecourt_app::network::create_user(app.store(), "boss", "admin", None, "Admin-pass-1234")
        .await
        .unwrap();
    let admin = app.store().user_by_username("boss").await.unwrap().unwrap();
    for (code, region) in [("S001", "R1"), ("S002", "R2")] {
        forecourt_app::network::create_station(
            app.store(),
            NewStation {
                code: code.into(),
                name: format!("Station {code}"),
                region_code: Some(region.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let admin_contact = ContactBody {
        email: Some("boss@example.com".into()),
        phone: None,
    };
    desk::set_staff_contact(&app, &admin, None, "boss", admin_contact)
        .await
        .unwrap();
    (sink, dir, app, clock, admin)
}

#[tokio::test]
async fn a_breached_ticket_escalates_to_the_station_then_the_region_manager_by_email() {
    let (_sink, dir, app, clock, admin) = setup().await;
    let sm1 = user(&app, &admin, "sm1", "station_manager", "station:S001").await;
    let rm1 = user(&app, &admin, "rm1", "region_manager", "region:R1").await;
    // Neither hears of S001's tickets.
    user(&app, &admin, "sm2", "station_manager", "station:S002").await;
    user(&app, &admin, "rm2", "region_manager", "region:R2").await;
    desk::put_policy(
        &app,
        &admin,
        None,
        "normal",
        PolicyBody {
            first_response_minutes: 240,
            resolution_minutes: 1440,
        },
    )
    .await
    .unwrap();

    // The default calendar is open 06:00-22:00 every day: first response due 12:30,
    // its warning at 11:30, the region manager at 13:30.
    let late = open(&app, &admin, "complaint").await;
    let paused = open(&app, &admin, "complaint").await;
    let closed = open(&app, &admin, "praise").await;
    let view = desk::get_ticket(&app, &admin, &late).await.unwrap();
    assert_eq!(view.sla.first_response_due_at, "2026-11-20T04:30:00Z");
    clock.set(at("2026-11-20T09:00:00+08:00"));
    step(&app, &admin, &paused, "wait_customer").await;
    step(&app, &admin, &closed, "close").await;

    // Before 75 %: nothing.
    clock.set(at("2026-11-20T11:29:00+08:00"));
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run, desk::EscalationRun::default());
    // The warning goes to the opener (no assignee), once.
    clock.set(at("2026-11-20T11:30:30+08:00"));
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!((run.warnings, run.escalations, run.messages), (1, 0, 1));
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run.messages, 0, "a second run sends nothing again");
    let warning = emails_of(&app, &format!("ticket:{late}:warning:first_response")).await;
    assert_eq!(warning.len(), 1);
    assert_eq!(warning[0].1, "boss@example.com");

    let worker = Worker::new(app.clone(), Jobs::default()).unwrap();
    drain(&worker, &app).await;
    assert_eq!(mailbox(&dir), warning);

    // 30 s after the breach: the worker's own round escalates to the station manager.
    clock.set(at("2026-11-20T12:30:30+08:00"));
    drain(&worker, &app).await;
    let t = app.store().ticket(&late).await.unwrap().unwrap();
    assert_eq!(t.escalation_level, 1);
    let events = app.store().ticket_events(&late).await.unwrap();
    let e = events.last().unwrap();
    assert_eq!(
        (e.action.as_str(), e.author.as_str(), e.at),
        ("escalate", "system", clock.now_us())
    );
    let to_station = emails_of(&app, &format!("ticket:{late}:escalation:station_manager")).await;
    assert_eq!(
        to_station.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        ["sm1@example.com"]
    );
    let mut expected = warning.clone();
    expected.extend(to_station.clone());
    expected.sort();
    assert_eq!(mailbox(&dir), expected);
    // The ticket still answers, with the job's event in its history.
    let view = desk::get_ticket(&app, &sm1, &late).await.unwrap();
    assert_eq!(view.state, "accepted");
    assert_eq!(view.sla.escalation_level, 1);

    // An hour of business time after the breach, 30 s late: the region manager.
    clock.set(at("2026-11-20T13:29:30+08:00"));
    drain(&worker, &app).await;
    assert_eq!(
        app.store()
            .ticket(&late)
            .await
            .unwrap()
            .unwrap()
            .escalation_level,
        1
    );
    clock.set(at("2026-11-20T13:30:30+08:00"));
    drain(&worker, &app).await;
    assert_eq!(
        app.store()
            .ticket(&late)
            .await
            .unwrap()
            .unwrap()
            .escalation_level,
        2
    );
    let to_region = emails_of(&app, &format!("ticket:{late}:escalation:region_manager")).await;
    assert_eq!(
        to_region.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        ["rm1@example.com"]
    );
    assert_ne!(rm1.user_id, sm1.user_id);
    expected.extend(to_region);
    expected.sort();
    assert_eq!(mailbox(&dir), expected);

    // Run again (the job and the worker): nothing more is sent.
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run.messages, 0);
    clock.set(at("2026-11-20T13:31:00+08:00"));
    drain(&worker, &app).await;
    assert_eq!(mailbox(&dir), expected);

    // Four business hours after the breach: headquarters (the company's admins).
    clock.set(at("2026-11-20T16:30:30+08:00"));
    drain(&worker, &app).await;
    assert_eq!(
        app.store()
            .ticket(&late)
            .await
            .unwrap()
            .unwrap()
            .escalation_level,
        3
    );
    let to_hq = emails_of(&app, &format!("ticket:{late}:escalation:hq")).await;
    assert_eq!(
        to_hq.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        ["boss@example.com"]
    );
    expected.extend(to_hq);
    expected.sort();
    assert_eq!(mailbox(&dir), expected);
    let escalations: Vec<String> = app
        .store()
        .ticket_events(&late)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "escalate")
        .map(|e| e.note.unwrap_or_default())
        .collect();
    assert_eq!(escalations.len(), 3, "{escalations:?}");

    // The paused and the closed ticket, long past their due times: nothing.
    for id in [&paused, &closed] {
        assert_eq!(
            app.store()
                .ticket(id)
                .await
                .unwrap()
                .unwrap()
                .escalation_level,
            0
        );
        for cause in [
            format!("ticket:{id}:escalation:station_manager"),
            format!("ticket:{id}:warning:first_response"),
            format!("ticket:{id}:warning:resolution"),
        ] {
            assert!(emails_of(&app, &cause).await.is_empty(), "{cause}");
        }
    }
    // Per station: S001 has two open tickets (the paused one too), one breached and
    // escalated.
    let b = desk::breaches(&app, &admin, Default::default())
        .await
        .unwrap();
    assert_eq!(
        b,
        vec![desk::StationBreaches {
            station_code: "S001".into(),
            open: 2,
            breached: 1,
            escalated: 1,
        }]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A callback (回访) due within the hour reminds the station's managers (the ticket has
/// no assignee) once; after a failed attempt the next one, due a day later, reminds
/// again; a ticket whose callback reached the customer reminds nobody.
#[tokio::test]
async fn a_callback_due_reminds_the_station_manager_once_per_attempt() {
    let (_sink, dir, app, clock, admin) = setup().await;
    user(&app, &admin, "sm1", "station_manager", "station:S001").await;
    user(&app, &admin, "sm2", "station_manager", "station:S002").await;
    let due = open(&app, &admin, "complaint").await;
    let done = open(&app, &admin, "complaint").await;
    for id in [&due, &done] {
        for action in ["respond", "propose", "implement"] {
            step(&app, &admin, id, action).await;
        }
    }
    desk::apply_event(
        &app,
        &admin,
        None,
        &done,
        EventBody {
            action: "callback".into(),
            note: Some("客户满意".into()),
            assignee: None,
            csat: Some(5),
            at: None,
        },
    )
    .await
    .unwrap();
    let task = desk::callbacks(&app, &admin, Default::default())
        .await
        .unwrap();
    assert_eq!(task.len(), 1, "the done one is off the list");
    let due_at = task[0].due_us;
    // More than an hour before: nothing.
    clock.set(due_at - 3_700_000_000);
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run.reminders, 0);
    // Within the hour: the station's manager, once.
    clock.set(due_at - 3_500_000_000);
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!((run.reminders, run.messages), (1, 1));
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run.reminders, 0, "a second run sends nothing again");
    let first = emails_of(&app, &format!("ticket:{due}:callback:0")).await;
    assert_eq!(
        first.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        ["sm1@example.com"]
    );
    // A failed attempt: the next is due a day later and reminds again when it nears.
    step(&app, &admin, &due, "unreachable").await;
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run.reminders, 0);
    clock.set(clock.now_us() + 86_400_000_000 - 1_800_000_000);
    let run = desk::run_escalations(&app, clock.now_us()).await.unwrap();
    assert_eq!(run.reminders, 1);
    let second = emails_of(&app, &format!("ticket:{due}:callback:1")).await;
    assert_eq!(second.len(), 1);
    assert!(emails_of(&app, &format!("ticket:{done}:callback:0"))
        .await
        .is_empty());
    // The reminders reach the SMTP server's mailbox.
    let worker = Worker::new(app.clone(), Jobs::default()).unwrap();
    drain(&worker, &app).await;
    let mail = mailbox(&dir);
    for m in first.iter().chain(&second) {
        assert!(mail.contains(m), "{m:?} not in {mail:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

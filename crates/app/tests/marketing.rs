//! The contact rules against real far ends (issue 17 acceptance 2–4): members without
//! marketing consent or on the do-not-contact list get nothing in a real SMTP server's
//! mailbox (aiosmtpd) or at a fake SMS gateway, while a transactional message still
//! reaches a member without consent; a marketing email carries `List-Unsubscribe` and
//! the one-click header, an SMS the 回复TD退订 text; three campaigns launched at once
//! with two workers delivering deliver exactly two messages to each member (cap 2 per
//! 7 days), the third suppressed by the cap; quiet hours 21:00–08:00 on a controllable
//! clock move a 22:30 send to 08:00 and drop one that expires at 07:00. On SQLite, or
//! PostgreSQL with `FORECOURT_TEST_BACKEND=postgres`.

use forecourt_app::access::Actor;
use forecourt_app::campaigns::{self, CampaignBody};
use forecourt_app::clock::Clock;
use forecourt_app::contact::{self, Contacted, Outgoing};
use forecourt_app::outbox::{Jobs, Settings, SmtpSettings, Worker};
use forecourt_app::segments::{self, SegmentBody};
use forecourt_app::{App, Config, Secret};
use forecourt_core::contact::{Kind, Policy, Suppression};
use forecourt_store::outbox::Channel;
use forecourt_store::{testing, NewCustomer, NewStation, Store};
use serde_json::json;
use std::time::{Duration, Instant};

mod far_ends;
use far_ends::{gateway, mails, smtp_sink, Sink};

fn at(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_micros()
}

struct World {
    _sink: Sink,
    dir: std::path::PathBuf,
    app: App,
    clock: Clock,
    admin: Actor,
    sms: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

/// A station S001 (Asia/Shanghai), an admin, an SMTP server and an SMS gateway, on a
/// clock at 2026-11-20 10:00 (+08:00).
async fn world() -> World {
    let dir = std::env::temp_dir().join(format!("fc-mkt-{}", forecourt_store::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (sink, port) = smtp_sink(&dir).await;
    let (sms_url, sms) = gateway(0).await;
    let url = testing::fresh_db().await.expect("a fresh database");
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    let clock = Clock::fixed(at("2026-11-20T10:00:00+08:00"));
    let app = App::new(
        store,
        Secret::from_bytes([7; 32]),
        Config {
            outbox: Settings {
                smtp: Some(SmtpSettings::parse(&format!("smtp://127.0.0.1:{port}")).unwrap()),
                smtp_from: Some("forecourt@example.com".into()),
                sms_url: Some(sms_url),
                concurrency: 2,
                lease: Duration::from_secs(6),
                public_url: "https://crm.example.com".into(),
                ..Settings::default()
            },
            clock: clock.clone(),
            ..Config::default()
        },
    );
    forecourt_app::network::create_user(app.store(), "boss", "admin", None, "Admin-pass-1234")
        .await
        .unwrap();
    let admin = Actor {
        user: app.store().user_by_username("boss").await.unwrap().unwrap(),
        source: None,
    };
    forecourt_app::network::create_station(
        app.store(),
        NewStation {
            code: "S001".into(),
            name: "Station S001".into(),
            region_code: Some("R1".into()),
            time_zone: Some("Asia/Shanghai".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    World {
        _sink: sink,
        dir,
        app,
        clock,
        admin,
        sms,
    }
}

/// A member of S001 with a phone and an email, tagged `tag`.
async fn member(w: &World, n: u32, tag: &str, consent: bool) -> String {
    let station = w
        .app
        .store()
        .station_by_code("S001")
        .await
        .unwrap()
        .unwrap();
    let mut tx = w.app.store().begin().await.unwrap();
    let id = tx
        .create_customer(&NewCustomer {
            member_code: format!("M{tag}{n:04}"),
            kind: "individual".into(),
            name: format!("会员{n}"),
            phone: Some(format!("1390000{n:04}")),
            home_station_id: Some(station.station_id),
            consent_marketing: consent,
            tags: vec![tag.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    tx.set_customer_email(&id, Some(&format!("m{n}@example.com")), 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn campaign(w: &World, tag: &str, channel: &str) -> String {
    let seg = segments::create(
        &w.app,
        &w.admin,
        SegmentBody {
            name: format!("tag {tag}"),
            filter: json!({ "tags_any": [tag] }),
        },
    )
    .await
    .unwrap();
    let c = campaigns::create(
        &w.app,
        &w.admin,
        CampaignBody {
            name: "周末优惠".into(),
            segment_id: seg["id"].as_str().unwrap().into(),
            holdout_percent: 0,
            channel: channel.into(),
            message: "{name}您好，周末加油{offer}".into(),
            offer: Some(campaigns::Offer {
                bonus_points: Some(100),
                ..Default::default()
            }),
            send_at: None,
            attribution_days: 7,
        },
    )
    .await
    .unwrap();
    c["id"].as_str().unwrap().to_string()
}

/// Ticks the workers (all at once) until no email or SMS is queued or sending.
async fn drain(workers: &[Worker], app: &App) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ticks = tokio::task::JoinSet::new();
        for worker in workers {
            let worker = worker.clone();
            ticks.spawn(async move { worker.tick().await.unwrap() });
        }
        ticks.join_all().await;
        let counts = app.store().outbox_counts().await.unwrap();
        if !counts.iter().any(|c| {
            c.channel != "inbox" && ["queued", "sending", "failed"].contains(&c.state.as_str())
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sms_to(w: &World) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = w
        .sms
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["to"].as_str().unwrap().to_string(),
                b["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn to_of(mail: &str) -> &str {
    mail.lines()
        .find_map(|l| l.strip_prefix("To: "))
        .unwrap_or_default()
        .trim()
}

#[tokio::test]
async fn no_consent_or_do_not_contact_means_no_marketing_but_transactional_still_goes() {
    let w = world().await;
    let yes = member(&w, 1, "a", true).await;
    let no_consent = member(&w, 2, "a", false).await;
    let listed = member(&w, 3, "a", true).await;
    let later = member(&w, 4, "a", true).await;
    let mut tx = w.app.store().begin().await.unwrap();
    for ch in ["email", "sms"] {
        tx.add_do_not_contact(&listed, ch, "manual", "user:boss", 0)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let email = campaign(&w, "a", "email").await;
    let sms = campaign(&w, "a", "sms").await;
    campaigns::launch(&w.app, &w.admin, &email).await.unwrap();
    campaigns::launch(&w.app, &w.admin, &sms).await.unwrap();
    // `later` unsubscribes by email after the launch, before delivery: the worker's
    // check stops the queued message.
    let mut tx = w.app.store().begin().await.unwrap();
    tx.add_do_not_contact(&later, "email", "unsubscribed", "member", 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let workers = vec![
        Worker::new(w.app.clone(), Jobs::default()).unwrap(),
        Worker::new(w.app.clone(), Jobs::default()).unwrap(),
    ];
    drain(&workers, &w.app).await;

    let inbox = mails(&w.dir);
    let to: Vec<&str> = inbox.iter().map(|m| to_of(m)).collect();
    assert_eq!(
        to,
        ["m1@example.com"],
        "only the consenting, listed-nowhere member"
    );
    let mail = &inbox[0];
    let url = contact::unsubscribe_url(&w.app, &yes, Channel::Email);
    assert!(url.starts_with("https://crm.example.com/u/"), "{url}");
    assert!(
        mail.contains(&format!("List-Unsubscribe: <{url}>")),
        "{mail}"
    );
    assert!(
        mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{mail}"
    );
    let texts = sms_to(&w);
    let phones: Vec<&str> = texts.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(phones, ["13900000001", "13900000004"], "{texts:?}");
    for (_, text) in &texts {
        assert!(text.ends_with("回复TD退订"), "{text}");
        assert!(text.contains("赠送 100 积分"), "{text}");
    }
    let r = campaigns::results(&w.app, &w.admin, &email).await.unwrap();
    assert_eq!(r["sent"], 1, "{r}");
    assert_eq!(r["suppressed"]["no_consent"], 1, "{r}");
    assert_eq!(r["suppressed"]["do_not_contact"], 2, "{r}");

    // A transactional email (a statement) reaches the member without marketing
    // consent, but never one on the channel's do-not-contact list.
    let policy = contact::policy(&w.app).await.unwrap();
    let now = w.clock.now_us();
    let mut tx = w.app.store().begin().await.unwrap();
    let mut outcome = Vec::new();
    for (who, cause) in [
        (&no_consent, "statement:2026-11:2"),
        (&listed, "statement:2026-11:3"),
    ] {
        outcome.push(
            contact::send(
                &w.app,
                &mut tx,
                &policy,
                &Outgoing {
                    customer_id: who.clone(),
                    channel: Channel::Email,
                    kind: Kind::Transactional,
                    subject: Some("11 月对账单".into()),
                    body: "您的 11 月对账单已生成。".into(),
                    cause: cause.into(),
                    not_before: None,
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    assert!(
        matches!(outcome[0], Contacted::Queued { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome[1], Contacted::Suppressed(Suppression::DoNotContact));
    drain(&workers, &w.app).await;
    let to: Vec<String> = mails(&w.dir).iter().map(|m| to_of(m).to_string()).collect();
    assert_eq!(to.len(), 2);
    assert!(to.contains(&"m2@example.com".to_string()), "{to:?}");
    let statement = mails(&w.dir)
        .into_iter()
        .find(|m| to_of(m) == "m2@example.com")
        .unwrap();
    assert!(
        !statement.contains("List-Unsubscribe"),
        "transactional: no opt-out header"
    );
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// Cap 2 per 7 days: three SMS campaigns launched at once, two workers delivering at
/// once: each member gets exactly two texts; the third campaign's are suppressed.
#[tokio::test]
async fn three_campaigns_with_two_workers_deliver_two_messages_each() {
    let w = world().await;
    let mut ids = Vec::new();
    for n in 1..=6 {
        ids.push(member(&w, n, "c", true).await);
    }
    let mut cs = Vec::new();
    for _ in 0..3 {
        cs.push(campaign(&w, "c", "sms").await);
    }
    let workers = vec![
        Worker::new(w.app.clone(), Jobs::default()).unwrap(),
        Worker::new(w.app.clone(), Jobs::default()).unwrap(),
    ];
    let mut launches = tokio::task::JoinSet::new();
    for c in &cs {
        let (app, admin, c) = (w.app.clone(), w.admin.clone(), c.clone());
        launches.spawn(async move { campaigns::launch(&app, &admin, &c).await.unwrap() });
    }
    let (launched, _) = tokio::join!(launches.join_all(), drain(&workers, &w.app));
    assert_eq!(launched.len(), 3);
    drain(&workers, &w.app).await;
    let texts = sms_to(&w);
    for n in 1..=6 {
        let phone = format!("1390000{n:04}");
        assert_eq!(
            texts.iter().filter(|(to, _)| *to == phone).count(),
            2,
            "{phone}: {texts:?}"
        );
    }
    let mut capped = 0;
    for c in &cs {
        let r = campaigns::results(&w.app, &w.admin, c).await.unwrap();
        capped += r["suppressed"]["frequency_cap"].as_i64().unwrap();
    }
    assert_eq!(capped, 6);
    // A week later the cap has room again.
    w.clock.set(at("2026-11-27T10:00:01+08:00"));
    let next = campaign(&w, "c", "sms").await;
    let r = campaigns::launch(&w.app, &w.admin, &next).await.unwrap();
    assert_eq!(r["queued"], 6, "{r}");
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// Quiet hours 21:00–08:00 in the station's time: a 22:30 send leaves at 08:00 the next
/// morning, not before; one that expires at 07:00 is dropped with the reason `expired`.
/// A transactional message goes at once, and one that expires while it waits is
/// dropped by the worker.
#[tokio::test]
async fn quiet_hours_hold_a_late_send_until_eight_and_drop_what_expires() {
    let w = world().await;
    let m = member(&w, 7, "q", true).await;
    w.clock.set(at("2026-11-20T22:30:00+08:00"));
    let policy = contact::policy(&w.app).await.unwrap();
    assert_eq!(policy, Policy::default());
    let now = w.clock.now_us();
    let send = |cause: &str, kind: Kind, expires: Option<&str>| Outgoing {
        customer_id: m.clone(),
        channel: Channel::Sms,
        kind,
        subject: None,
        body: format!("消息 {cause}"),
        cause: cause.into(),
        not_before: None,
        expires_at: expires.map(at),
    };
    let mut tx = w.app.store().begin().await.unwrap();
    let late = contact::send(
        &w.app,
        &mut tx,
        &policy,
        &send("late", Kind::Marketing, None),
        now,
    )
    .await
    .unwrap();
    let expiring = contact::send(
        &w.app,
        &mut tx,
        &policy,
        &send(
            "expiring",
            Kind::Marketing,
            Some("2026-11-21T07:00:00+08:00"),
        ),
        now,
    )
    .await
    .unwrap();
    let code = contact::send(
        &w.app,
        &mut tx,
        &policy,
        &send(
            "code",
            Kind::Transactional,
            Some("2026-11-20T22:35:00+08:00"),
        ),
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let Contacted::Queued { at: late_at, .. } = late else {
        panic!("{late:?}")
    };
    assert_eq!(late_at, at("2026-11-21T08:00:00+08:00"));
    assert_eq!(expiring, Contacted::Suppressed(Suppression::Expired));
    assert!(matches!(code, Contacted::Queued { at, .. } if at == now));
    let worker = Worker::new(w.app.clone(), Jobs::default()).unwrap();
    // The one-time code goes at once.
    worker.tick().await.unwrap();
    wait_for(&w, 1).await;
    assert_eq!(sms_to(&w)[0].1, "消息 code");
    // One queued now that expires a minute later, before any worker takes it: dropped
    // at delivery.
    let mut tx = w.app.store().begin().await.unwrap();
    let stale = contact::send(
        &w.app,
        &mut tx,
        &policy,
        &send(
            "stale",
            Kind::Transactional,
            Some("2026-11-20T22:31:00+08:00"),
        ),
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let Contacted::Queued {
        message_id: stale_id,
        ..
    } = stale
    else {
        panic!("{stale:?}")
    };
    w.clock.set(at("2026-11-20T22:32:00+08:00"));
    worker.tick().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stale = w.app.store().message(&stale_id).await.unwrap().unwrap();
    assert_eq!(
        (stale.state.as_str(), stale.last_error.as_deref()),
        ("suppressed", Some("expired"))
    );
    // 07:59: the marketing text still waits; 08:00 it leaves.
    w.clock.set(at("2026-11-21T07:59:59+08:00"));
    worker.tick().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sms_to(&w).len(), 1);
    w.clock.set(at("2026-11-21T08:00:00+08:00"));
    worker.tick().await.unwrap();
    wait_for(&w, 2).await;
    assert!(sms_to(&w).iter().any(|(_, t)| t.starts_with("消息 late")));
    let _ = std::fs::remove_dir_all(&w.dir);
}

async fn wait_for(w: &World, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.sms.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "the gateway got {:?}", sms_to(w));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

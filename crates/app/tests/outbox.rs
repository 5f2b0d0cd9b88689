//! The outbox worker against real far ends: email to a real SMTP server (aiosmtpd,
//! scripts/smtp_sink.py), SMS to a fake gateway (a small axum server), retries after
//! the gateway's 500s, `dead` after the last attempt, and a job whose effects commit
//! with its completion. On SQLite, or PostgreSQL with `FORECOURT_TEST_BACKEND=postgres`.

use forecourt_app::outbox::{message_id_header, Jobs, Settings, SmtpSettings, Worker};
use forecourt_app::{App, AppError, Config, Secret};
use forecourt_store::outbox::{Channel, NewJob, NewMessage};
use forecourt_store::{testing, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod far_ends;
use far_ends::{gateway, smtp_sink};

async fn app(outbox: Settings) -> App {
    let url = testing::fresh_db().await.expect("a fresh database");
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .expect("open");
    App::new(
        store,
        Secret::from_bytes([7; 32]),
        Config {
            outbox,
            ..Config::default()
        },
    )
}

fn quick(settings: Settings) -> Settings {
    Settings {
        concurrency: 2,
        lease: Duration::from_secs(6),
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        ..settings
    }
}

fn message(channel: Channel, cause: &str, address: &str) -> NewMessage {
    NewMessage {
        channel,
        recipient: format!("address:{address}"),
        customer_id: None,
        address: Some(address.into()),
        subject: Some(format!("主题 {cause}")),
        body: format!("正文 {cause}"),
        cause: cause.into(),
        max_attempts: 3,
    }
}

async fn enqueue(app: &App, m: &NewMessage) -> String {
    let mut tx = app.store().begin().await.unwrap();
    let id = tx
        .enqueue_message(m, app.clock().now_us())
        .await
        .unwrap()
        .id;
    tx.commit().await.unwrap();
    id
}

/// Ticks the worker until every message is in one of `done` states.
async fn drain(worker: &Worker, app: &App, ids: &[String], done: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        worker.tick().await.unwrap();
        let mut all = true;
        for id in ids {
            let m = app.store().message(id).await.unwrap().unwrap();
            all &= done.contains(&m.state.as_str());
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_its_stable_message_id() {
    let dir = std::env::temp_dir().join(format!("fc-smtp-{}", forecourt_store::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_sink, port) = smtp_sink(&dir).await;
    let app = app(quick(Settings {
        smtp: Some(SmtpSettings::parse(&format!("smtp://127.0.0.1:{port}")).unwrap()),
        smtp_from: Some("forecourt@example.com".into()),
        ..Settings::default()
    }))
    .await;
    let status = app.outbox_status().await.unwrap();
    assert!(status.email_configured && !status.sms_configured);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            enqueue(
                &app,
                &message(Channel::Email, &format!("test:{i}"), "member@example.com"),
            )
            .await,
        );
    }
    // An SMS waits: no gateway is configured.
    let sms = enqueue(&app, &message(Channel::Sms, "test:sms", "13800000000")).await;
    let worker = Worker::new(app.clone(), Jobs::default()).unwrap();
    drain(&worker, &app, &ids, &["sent"]).await;
    assert_eq!(
        app.store().message(&sms).await.unwrap().unwrap().state,
        "queued"
    );
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir.join("mail/new")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let header = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("a Message-ID header")
            .to_string();
        assert!(text.contains("To: member@example.com"));
        found.push(header);
    }
    found.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| message_id_header(id)).collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "one email per message, each with its stored id"
    );
    let m = app.store().message(&ids[0]).await.unwrap().unwrap();
    assert!(
        m.provider_id.unwrap().starts_with("250"),
        "the server's answer is kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sms_is_retried_after_gateway_errors_with_the_same_id() {
    let (url, seen) = gateway(2).await;
    let app = app(quick(Settings {
        sms_url: Some(url),
        ..Settings::default()
    }))
    .await;
    let id = enqueue(
        &app,
        &message(Channel::Sms, "ticket:1:callback", "13800000000"),
    )
    .await;
    let worker = Worker::new(app.clone(), Jobs::default()).unwrap();
    drain(&worker, &app, std::slice::from_ref(&id), &["sent"]).await;
    let m = app.store().message(&id).await.unwrap().unwrap();
    assert_eq!((m.attempts, m.provider_id.as_deref()), (3, Some("202")));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two 500s, then accepted");
    for body in seen {
        assert_eq!(
            body,
            serde_json::json!({"id": id, "to": "13800000000", "text": "正文 ticket:1:callback"})
        );
    }
}

#[tokio::test]
async fn sms_is_dead_after_the_last_attempt() {
    let (url, seen) = gateway(usize::MAX).await;
    let app = app(quick(Settings {
        sms_url: Some(url),
        ..Settings::default()
    }))
    .await;
    let id = enqueue(
        &app,
        &message(Channel::Sms, "ticket:2:callback", "13800000001"),
    )
    .await;
    let worker = Worker::new(app.clone(), Jobs::default()).unwrap();
    drain(&worker, &app, std::slice::from_ref(&id), &["dead"]).await;
    let m = app.store().message(&id).await.unwrap().unwrap();
    assert_eq!(m.attempts, 3);
    assert!(m.last_error.unwrap().contains("500"));
    assert_eq!(seen.lock().unwrap().len(), 3, "no attempt after the last");
}

#[tokio::test]
async fn a_job_commits_its_effects_with_its_completion_and_is_retried_after_a_failure() {
    let app = app(quick(Settings::default())).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let mut jobs = Jobs::default();
    let counter = runs.clone();
    jobs.register("test.notify", move |app, tx, job| {
        let counter = counter.clone();
        Box::pin(async move {
            tx.enqueue_message(
                &message(
                    Channel::Email,
                    &format!("job:{}", job.job_id),
                    "a@example.com",
                ),
                app.clock().now_us(),
            )
            .await?;
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(AppError::new("conflict", "the first run fails"));
            }
            Ok(())
        })
    });
    let mut tx = app.store().begin().await.unwrap();
    let (job_id, _) = tx
        .enqueue_job(
            &NewJob {
                kind: "test.notify".into(),
                payload: "{}".into(),
                run_at: 0,
                unique_key: Some("notify:1".into()),
                max_attempts: 3,
            },
            0,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let worker = Worker::new(app.clone(), jobs).unwrap();
    worker.tick().await.unwrap();
    let (state, attempts, error) = app.store().job_state(&job_id).await.unwrap().unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 1));
    assert!(error.unwrap().contains("the first run fails"));
    assert!(
        app.outbox_status().await.unwrap().counts.is_empty(),
        "the failed run's message rolled back"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    worker.tick().await.unwrap();
    assert_eq!(
        app.store().job_state(&job_id).await.unwrap().unwrap().0,
        "done"
    );
    assert_eq!(
        app.outbox_status().await.unwrap().counts,
        vec![("email".to_string(), "queued".to_string(), 1)],
        "the message of the run that succeeded, once"
    );
    worker.tick().await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a done job does not run again"
    );
}

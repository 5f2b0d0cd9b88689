//! The job runner's and the outbox's tables: one message per (cause, recipient,
//! channel), claims that never hand one row to two workers, leases that run out,
//! retries at their time and `dead` at the end.

use super::store;
use forecourt_store::outbox::{Channel, NewJob, NewMessage};
use forecourt_store::{NewCustomer, Store};
use std::collections::HashSet;

const LEASE: i64 = 30_000_000;

fn email(cause: &str, recipient: &str) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        recipient: recipient.into(),
        customer_id: None,
        address: Some(format!("{recipient}@example.com")),
        subject: Some("主题".into()),
        body: "正文".into(),
        cause: cause.into(),
        max_attempts: 3,
    }
}

async fn enqueue(store: &Store, m: &NewMessage, now: i64) -> String {
    let mut tx = store.begin().await.unwrap();
    let e = tx.enqueue_message(m, now).await.unwrap();
    tx.commit().await.unwrap();
    e.id
}

#[tokio::test]
async fn one_message_per_cause_recipient_and_channel() {
    let store = store().await;
    let mut tx = store.begin().await.unwrap();
    let first = tx
        .enqueue_message(&email("ticket:1:escalation:1", "staff:a"), 10)
        .await
        .unwrap();
    assert!(first.inserted);
    let again = tx
        .enqueue_message(&email("ticket:1:escalation:1", "staff:a"), 11)
        .await
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.inserted),
        (first.id.as_str(), false)
    );
    let sms = NewMessage {
        channel: Channel::Sms,
        ..email("ticket:1:escalation:1", "staff:a")
    };
    let other = tx.enqueue_message(&sms, 12).await.unwrap();
    assert!(
        other.inserted && other.id != first.id,
        "another channel is another message"
    );
    tx.commit().await.unwrap();
    // In a later transaction too.
    let mut tx = store.begin().await.unwrap();
    let later = tx
        .enqueue_message(&email("ticket:1:escalation:1", "staff:a"), 13)
        .await
        .unwrap();
    assert_eq!(later.id, first.id);
    assert!(!later.inserted);
    tx.commit().await.unwrap();
    // A rolled-back cause leaves no message.
    let mut tx = store.begin().await.unwrap();
    let gone = tx
        .enqueue_message(&email("ticket:2:escalation:1", "staff:a"), 14)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(store.message(&gone.id).await.unwrap(), None);
    let m = store.message(&first.id).await.unwrap().unwrap();
    assert_eq!(
        m.address.as_deref(),
        Some("staff:a@example.com"),
        "the address opens"
    );
    assert_eq!(
        (m.state.as_str(), m.attempts, m.created_at),
        ("queued", 0, 10)
    );
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_message() {
    let store = store().await;
    let mut tx = store.begin().await.unwrap();
    for i in 0..120 {
        tx.enqueue_message(&email(&format!("batch:{i}"), "staff:a"), 0)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_messages(&[Channel::Email], 7, LEASE, 1)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return mine;
                }
                for m in batch {
                    assert_eq!((m.state.as_str(), m.attempts), ("sending", 1));
                    mine.push(m.message_id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "a message was claimed twice");
        }
    }
    assert_eq!((total, seen.len()), (120, 120));
    // Only the channels asked for are claimed.
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_message(
        &NewMessage {
            channel: Channel::Sms,
            ..email("sms:1", "staff:a")
        },
        0,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(store
        .claim_messages(&[Channel::Email], 10, LEASE, 2)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_messages(&[Channel::Sms], 10, LEASE, 2)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_the_old_claim_cannot_finish() {
    let store = store().await;
    let id = enqueue(&store, &email("lease:1", "staff:a"), 0).await;
    let first = store
        .claim_messages(&[Channel::Email], 10, 1_000, 100)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store
            .claim_messages(&[Channel::Email], 10, 1_000, 1_099)
            .await
            .unwrap()
            .is_empty(),
        "held while its lease runs"
    );
    let second = store
        .claim_messages(&[Channel::Email], 10, LEASE, 1_100)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "the worker died: its lease ran out");
    assert_eq!(
        (second[0].message_id.as_str(), second[0].attempts),
        (id.as_str(), 2)
    );
    let (old, new) = (
        first[0].lease_token.clone().unwrap(),
        second[0].lease_token.clone().unwrap(),
    );
    assert_ne!(old, new);
    assert!(
        !store.message_sent(&id, &old, None, 1_200).await.unwrap(),
        "the old claim is void"
    );
    assert!(store
        .message_sent(&id, &new, Some("250 ok"), 1_300)
        .await
        .unwrap());
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(
        (m.state.as_str(), m.sent_at, m.provider_id.as_deref()),
        ("sent", Some(1_300), Some("250 ok"))
    );
    assert_eq!(m.message_id, id, "the id never changes");
    assert!(store
        .claim_messages(&[Channel::Email], 10, LEASE, i64::MAX / 2)
        .await
        .unwrap()
        .is_empty());
    // A lease that runs out on the last attempt makes the message dead, not sent again.
    let last = enqueue(
        &store,
        &NewMessage {
            max_attempts: 1,
            ..email("lease:2", "staff:a")
        },
        0,
    )
    .await;
    assert_eq!(
        store
            .claim_messages(&[Channel::Email], 10, 1_000, 2_000)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .claim_messages(&[Channel::Email], 10, 1_000, 5_000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.message(&last).await.unwrap().unwrap().state, "dead");
}

#[tokio::test]
async fn a_failed_message_waits_for_its_retry_time_and_dies_after_the_last_attempt() {
    let store = store().await;
    let id = enqueue(&store, &email("retry:1", "staff:a"), 0).await;
    let token = |m: &Vec<forecourt_store::outbox::Message>| m[0].lease_token.clone().unwrap();
    let c = store
        .claim_messages(&[Channel::Email], 1, LEASE, 10)
        .await
        .unwrap();
    assert!(store
        .message_failed(&id, &token(&c), "HTTP 500", Some(1_000))
        .await
        .unwrap());
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!(
        (m.state.as_str(), m.next_attempt_at, m.last_error.as_deref()),
        ("failed", 1_000, Some("HTTP 500"))
    );
    assert!(
        store
            .claim_messages(&[Channel::Email], 1, LEASE, 999)
            .await
            .unwrap()
            .is_empty(),
        "not before its time"
    );
    let c = store
        .claim_messages(&[Channel::Email], 1, LEASE, 1_000)
        .await
        .unwrap();
    assert_eq!(c[0].attempts, 2);
    assert!(store
        .message_failed(&id, &token(&c), "HTTP 500", Some(3_000))
        .await
        .unwrap());
    let c = store
        .claim_messages(&[Channel::Email], 1, LEASE, 3_000)
        .await
        .unwrap();
    assert_eq!(c[0].attempts, 3);
    assert!(store
        .message_failed(&id, &token(&c), "HTTP 500", None)
        .await
        .unwrap());
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!((m.state.as_str(), m.attempts), ("dead", 3));
    assert!(store
        .claim_messages(&[Channel::Email], 1, LEASE, i64::MAX / 2)
        .await
        .unwrap()
        .is_empty());
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (
            counts[0].channel.as_str(),
            counts[0].state.as_str(),
            counts[0].count
        ),
        ("email", "dead", 1)
    );
}

#[tokio::test]
async fn inbox_messages_are_delivered_by_being_there() {
    let store = store().await;
    let mut tx = store.begin().await.unwrap();
    let mut customers = Vec::new();
    for code in ["M1", "M2"] {
        customers.push(
            tx.create_customer(&NewCustomer {
                member_code: code.into(),
                kind: "individual".into(),
                name: "测试".into(),
                ..Default::default()
            })
            .await
            .unwrap(),
        );
    }
    let inbox = |cause: &str| NewMessage {
        channel: Channel::Inbox,
        recipient: customers[0].clone(),
        customer_id: Some(customers[0].clone()),
        address: None,
        subject: Some("您的投诉已受理".into()),
        body: format!("{cause} 正文"),
        cause: cause.into(),
        max_attempts: 1,
    };
    let a = tx
        .enqueue_message(&inbox("ticket:1:accepted"), 100)
        .await
        .unwrap()
        .id;
    let b = tx
        .enqueue_message(&inbox("ticket:1:closed"), 200)
        .await
        .unwrap()
        .id;
    tx.commit().await.unwrap();
    assert!(
        store
            .claim_messages(&[Channel::Inbox], 10, LEASE, 1_000)
            .await
            .unwrap()
            .is_empty(),
        "nothing to send"
    );
    let items = store.inbox(&customers[0], 10).await.unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i.message_id.as_str())
            .collect::<Vec<_>>(),
        [b.as_str(), a.as_str()]
    );
    assert_eq!(items[0].body, "ticket:1:closed 正文");
    assert!(store.inbox(&customers[1], 10).await.unwrap().is_empty());
    assert!(
        !store.mark_inbox_read(&customers[1], &a, 300).await.unwrap(),
        "not theirs"
    );
    assert!(store.mark_inbox_read(&customers[0], &a, 300).await.unwrap());
    assert!(store.mark_inbox_read(&customers[0], &a, 400).await.unwrap());
    let items = store.inbox(&customers[0], 10).await.unwrap();
    assert_eq!(
        (items[0].read_at, items[1].read_at),
        (None, Some(300)),
        "read once, at the first time"
    );
    assert_eq!(store.message(&a).await.unwrap().unwrap().state, "sent");
    // Anonymising the member erases their messages.
    let mut tx = store.begin().await.unwrap();
    tx.anonymize_customer(&customers[0]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.inbox(&customers[0], 10).await.unwrap().is_empty());
    assert_eq!(store.message(&a).await.unwrap(), None);
}

#[tokio::test]
async fn a_job_runs_once_and_finishes_with_its_effects() {
    let store = store().await;
    let job = |key: Option<&str>| NewJob {
        kind: "test.echo".into(),
        payload: r#"{"n":1}"#.into(),
        run_at: 100,
        unique_key: key.map(str::to_string),
        max_attempts: 2,
    };
    let mut tx = store.begin().await.unwrap();
    let (id, inserted) = tx.enqueue_job(&job(Some("k1")), 0).await.unwrap();
    assert!(inserted);
    assert_eq!(
        tx.enqueue_job(&job(Some("k1")), 0).await.unwrap(),
        (id.clone(), false)
    );
    let (free, _) = tx.enqueue_job(&job(None), 0).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        store
            .claim_jobs(&["test.echo"], 10, LEASE, 99)
            .await
            .unwrap()
            .is_empty(),
        "not before run_at"
    );
    assert!(
        store
            .claim_jobs(&["other"], 10, LEASE, 100)
            .await
            .unwrap()
            .is_empty(),
        "only the kinds asked for"
    );
    let claimed = store
        .claim_jobs(&["test.echo"], 10, LEASE, 100)
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|j| j.job_id.as_str())
            .collect::<HashSet<_>>(),
        HashSet::from([id.as_str(), free.as_str()])
    );
    // The first job fails once and runs again at its retry time.
    let j = claimed.iter().find(|j| j.job_id == id).unwrap();
    assert!(store
        .job_failed(&id, &j.lease_token, "boom", Some(500), 200)
        .await
        .unwrap());
    assert_eq!(
        store.job_state(&id).await.unwrap().unwrap(),
        ("queued".into(), 1, Some("boom".into()))
    );
    let again = store
        .claim_jobs(&["test.echo"], 10, LEASE, 500)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    // Its effect (a message) and its completion commit together; a rollback keeps neither.
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_message(&email("job:effect", "staff:a"), 600)
        .await
        .unwrap();
    assert!(tx
        .finish_job(&id, &again[0].lease_token, 600)
        .await
        .unwrap());
    drop(tx);
    assert_eq!(store.job_state(&id).await.unwrap().unwrap().0, "running");
    let mut tx = store.begin().await.unwrap();
    let effect = tx
        .enqueue_message(&email("job:effect", "staff:a"), 600)
        .await
        .unwrap();
    assert!(
        !tx.finish_job(&id, "not-the-token", 600).await.unwrap(),
        "another claim's token"
    );
    assert!(tx
        .finish_job(&id, &again[0].lease_token, 600)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.job_state(&id).await.unwrap().unwrap().0, "done");
    assert!(store.message(&effect.id).await.unwrap().is_some());
    // The other job's worker died; on its last attempt the lease running out kills it.
    assert!(
        store
            .claim_jobs(&["test.echo"], 10, LEASE, 100 + LEASE)
            .await
            .unwrap()
            .len()
            == 1
    );
    assert!(store
        .claim_jobs(&["test.echo"], 10, LEASE, 100 + 3 * LEASE)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.job_state(&free).await.unwrap().unwrap().0, "dead");
}

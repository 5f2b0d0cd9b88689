//! The store contract suite: the same tests on SQLite and on PostgreSQL
//! (`FORECOURT_TEST_BACKEND=postgres` with `FORECOURT_TEST_PG_URL`).

use forecourt_core::ledger::{account, Transfer, Unit};
use forecourt_core::DomainError;
use forecourt_store::ledger::NewJournal;
use forecourt_store::{testing, NewCard, NewCustomer, Store, StoreError};
use std::sync::Arc;

mod group_commit;
mod network;
mod outbox;
mod tickets;

pub(crate) async fn store() -> Store {
    let url = testing::fresh_db().await.expect("a fresh database");
    Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .expect("open and migrate")
}

fn journal(key: &str) -> NewJournal<'static> {
    NewJournal {
        idempotency_key: key.to_string(),
        kind: "recharge",
        station_id: None,
        occurred_at: 0,
        memo: None,
    }
}

/// A customer with one card; returns the card id.
async fn card(store: &Store, no: &str) -> String {
    let mut tx = store.begin().await.unwrap();
    let customer = tx
        .create_customer(&NewCustomer {
            member_code: format!("M{no}"),
            kind: "individual".into(),
            name: "测试".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let id = tx
        .create_card(&NewCard {
            card_no: no.to_string(),
            kind: "personal".into(),
            customer_id: Some(customer),
            main_card_id: None,
            balance_mode: "pool".into(),
            cap_fen: None,
            rules: Default::default(),
            pin_hash: None,
            issued_station_id: None,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn fund(store: &Store, card_id: &str, amount: i64, key: &str) {
    let mut tx = store.begin().await.unwrap();
    tx.post(
        &journal(key),
        &[Transfer::new(
            account::tender("cash"),
            account::card_paid(card_id),
            amount,
            Unit::Fen,
        )],
        false,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn debit(store: &Store, card_id: &str, amount: i64, key: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.lock_card(card_id).await?;
    tx.post(
        &journal(key),
        &[Transfer::new(
            account::card_paid(card_id),
            account::SALES_REVENUE,
            amount,
            Unit::Fen,
        )],
        false,
    )
    .await?;
    tx.commit().await
}

async fn assert_clean(store: &Store) {
    let report = store.check().await.unwrap();
    assert!(report.is_clean(), "check found: {:?}", report.problems);
}

#[tokio::test]
async fn migrations_are_idempotent_and_a_newer_schema_is_refused() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 10);
    store.migrate().await.unwrap();
    assert_eq!(
        store.products().await.unwrap().len(),
        9,
        "default products are seeded once"
    );
    assert_eq!(
        store
            .tiers()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["普通", "VIP", "SVIP"]
    );
    store.close().await;
    // Pretend a newer binary migrated the database.
    sqlx_exec(
        &url,
        "insert into schema_migration (version, name, applied_at) values (99, 'future', 0)",
    )
    .await;
    match Store::open(&url, forecourt_store::Vault::for_tests()).await {
        Err(StoreError::SchemaTooNew {
            found: 99,
            known: 10,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// Migrations written on parallel branches may be merged out of order: a database that
/// has a higher version but lacks a lower one gets the lower one on its next start.
#[tokio::test]
async fn a_missing_lower_migration_is_applied_after_a_higher_one() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    store.close().await;
    // As if version 4 had been merged after 6 was applied.
    for sql in [
        "drop table member_session",
        "drop table member_credential",
        "delete from schema_migration where version = 4",
    ] {
        sqlx_exec(&url, sql).await;
    }
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 10);
    assert!(store.member_credential("nobody").await.unwrap().is_none());
}

async fn sqlx_exec(url: &forecourt_store::DbUrl, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url.expose()).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn postings_move_balances_and_check_is_clean() {
    let store = store().await;
    let c = card(&store, "1000010000000000001").await;
    fund(&store, &c, 10_000, "r1").await;
    debit(&store, &c, 2_500, "s1").await.unwrap();
    assert_eq!(store.card_balance(&c).await.unwrap().paid_fen, 7_500);
    let totals = store.account_totals(&account::card_paid(&c)).await.unwrap();
    assert_eq!(
        (totals.credits_posted, totals.debits_posted),
        (10_000, 2_500)
    );
    assert_clean(&store).await;
}

#[tokio::test]
async fn an_overdraft_is_refused_and_changes_nothing() {
    let store = store().await;
    let c = card(&store, "1000010000000000002").await;
    fund(&store, &c, 1_000, "r1").await;
    let before = store.check().await.unwrap();
    match debit(&store, &c, 1_001, "s1").await {
        Err(StoreError::Domain(DomainError::InsufficientBalance { .. })) => {}
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    let after = store.check().await.unwrap();
    assert_eq!(
        (before.journals, before.transfers),
        (after.journals, after.transfers)
    );
    assert_eq!(store.card_balance(&c).await.unwrap().paid_fen, 1_000);
    assert_clean(&store).await;
}

#[tokio::test]
async fn an_idempotency_key_posts_once() {
    let store = store().await;
    let c = card(&store, "1000010000000000003").await;
    fund(&store, &c, 1_000, "same-key").await;
    let mut tx = store.begin().await.unwrap();
    let r = tx
        .post(
            &journal("same-key"),
            &[Transfer::new(
                account::tender("cash"),
                account::card_paid(&c),
                1_000,
                Unit::Fen,
            )],
            false,
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    drop(tx);
    assert_eq!(store.card_balance(&c).await.unwrap().paid_fen, 1_000);
    assert_clean(&store).await;
}

#[tokio::test]
async fn concurrent_debits_never_overdraw() {
    let store = Arc::new(store().await);
    let c = card(&store, "1000010000000000004").await;
    fund(&store, &c, 10_000, "r1").await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (store, c) = (store.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                match debit(&store, &c, 1_000, &format!("s{i}")).await {
                    Err(StoreError::Retry) => tokio::task::yield_now().await,
                    other => return other.is_ok(),
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 10);
    assert_eq!(store.card_balance(&c).await.unwrap().paid_fen, 0);
    assert_clean(&store).await;
}

#[tokio::test]
async fn holds_reserve_money_until_released_once() {
    let store = store().await;
    let c = card(&store, "1000010000000000005").await;
    fund(&store, &c, 10_000, "r1").await;
    let mut tx = store.begin().await.unwrap();
    let hold = tx
        .post(
            &NewJournal {
                kind: "hold",
                ..journal("h1")
            },
            &[Transfer::new(
                account::card_paid(&c),
                account::HOLDS,
                8_000,
                Unit::Fen,
            )],
            true,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let b = store.card_balance(&c).await.unwrap();
    assert_eq!((b.paid_fen, b.held_fen), (2_000, 8_000));
    assert!(
        debit(&store, &c, 3_000, "s1").await.is_err(),
        "held money cannot be spent"
    );
    // A pending transfer without a pending authorisation is reported by the check.
    assert!(!store.check().await.unwrap().is_clean());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.release(&hold).await.unwrap(), 8_000);
    assert_eq!(
        tx.release(&hold).await.unwrap(),
        0,
        "a hold is released once"
    );
    tx.commit().await.unwrap();
    assert_eq!(store.card_balance(&c).await.unwrap().paid_fen, 10_000);
    assert_clean(&store).await;
}

#[tokio::test]
async fn credit_accounts_stop_at_their_limit() {
    let store = store().await;
    let mut tx = store.begin().await.unwrap();
    let customer = tx
        .create_customer(&NewCustomer {
            member_code: "M1".into(),
            kind: "company".into(),
            name: "物流公司".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    tx.set_credit_agreement(&customer, 50_000, 1).await.unwrap();
    tx.commit().await.unwrap();
    let sell = |amount: i64, key: &'static str| {
        let store = store.clone();
        let customer = customer.clone();
        async move {
            let mut tx = store.begin().await?;
            tx.post(
                &journal(key),
                &[Transfer::new(
                    account::customer_credit(&customer),
                    account::SALES_REVENUE,
                    amount,
                    Unit::Fen,
                )],
                false,
            )
            .await?;
            tx.commit().await
        }
    };
    sell(30_000, "a").await.unwrap();
    assert!(matches!(
        sell(20_001, "b").await,
        Err(StoreError::Domain(DomainError::CreditLimitExceeded { .. }))
    ));
    sell(20_000, "c").await.unwrap();
    assert_clean(&store).await;
}

#[tokio::test]
async fn check_finds_a_tampered_balance() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    let c = card(&store, "1000010000000000006").await;
    fund(&store, &c, 5_000, "r1").await;
    assert_clean(&store).await;
    sqlx_exec(
        &url,
        &format!(
            "update account set credits_posted = credits_posted + 1 where account_id = '{}'",
            account::card_paid(&c)
        ),
    )
    .await;
    let report = store.check().await.unwrap();
    assert!(!report.is_clean());
    assert!(
        report.problems[0].contains(&account::card_paid(&c)),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn check_finds_points_lots_that_differ_from_the_balance_and_unexplained_points() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    let c = card(&store, "1000010000000000014").await;
    let customer = store
        .card_by_id(&c)
        .await
        .unwrap()
        .unwrap()
        .customer_id
        .unwrap();
    // 120 points earned on a day: ledger and lot together.
    let mut tx = store.begin().await.unwrap();
    tx.post(
        &NewJournal {
            idempotency_key: "earn-1".into(),
            kind: "points_earn",
            station_id: None,
            occurred_at: 0,
            memo: None,
        },
        &[Transfer::new(
            account::POINTS_ISSUED,
            account::customer_points(&customer),
            120,
            Unit::Points,
        )],
        false,
    )
    .await
    .unwrap();
    tx.add_to_lot(&customer, "2026-11-20", 120).await.unwrap();
    tx.commit().await.unwrap();
    assert_clean(&store).await;
    // A lot that holds more than the balance is found.
    sqlx_exec(
        &url,
        "update points_lot set remaining = remaining + 1 where earned_on = '2026-11-20'",
    )
    .await;
    let report = store.check().await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("points lots")),
        "{:?}",
        report.problems
    );
    // Put back, the books agree again.
    sqlx_exec(&url, "update points_lot set remaining = remaining - 1").await;
    assert_clean(&store).await;
}

#[tokio::test]
async fn unique_numbers_are_conflicts() {
    let store = store().await;
    card(&store, "1000010000000000007").await;
    let mut tx = store.begin().await.unwrap();
    let r = tx
        .create_card(&NewCard {
            card_no: "1000010000000000007".into(),
            kind: "anonymous".into(),
            customer_id: None,
            main_card_id: None,
            balance_mode: "pool".into(),
            cap_fen: None,
            rules: Default::default(),
            pin_hash: None,
            issued_station_id: None,
        })
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
}

#[tokio::test]
async fn lookups_by_phone_plate_and_name() {
    let store = store().await;
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .create_customer(&NewCustomer {
            member_code: "8000000001".into(),
            kind: "individual".into(),
            name: "王伟".into(),
            phone: Some("13912345678".into()),
            vehicles: vec![forecourt_store::NewVehicle {
                plate: "京A12345".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.customer_ids_by_phone("13912345678").await.unwrap(),
        vec![id.clone()]
    );
    assert_eq!(
        store.customer_ids_by_plate("京A12345").await.unwrap(),
        vec![id.clone()]
    );
    assert_eq!(
        store.customer_ids_by_name(" 王 伟", 10).await.unwrap(),
        vec![id.clone()]
    );
    assert_eq!(
        store
            .customer_by_member_code("8000000001")
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        id
    );
    assert!(store
        .customer_ids_by_phone("13900000000")
        .await
        .unwrap()
        .is_empty());
}

fn entry(action: &'static str, id: &'static str) -> forecourt_store::audit::AuditEntry<'static> {
    forecourt_store::audit::AuditEntry {
        actor: "user:test",
        action,
        target_kind: "customer",
        target_id: Some(id),
        source: Some("127.0.0.1"),
        detail: serde_json::json!({"n": 1}),
    }
}

async fn try_exec(url: &forecourt_store::DbUrl, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url.expose()).await?;
    sqlx::query(sql).execute(&mut conn).await.map(|_| ())
}

#[tokio::test]
async fn the_audit_chain_verifies_and_breaks_when_altered() {
    let url = testing::fresh_db().await.unwrap();
    let store = Arc::new(
        Store::open(&url, forecourt_store::Vault::for_tests())
            .await
            .unwrap(),
    );
    assert_eq!(
        store.verify_audit().await.unwrap().broken_at,
        None,
        "an empty log verifies"
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.audit(&entry("customer.read", "c1")).await.unwrap()
        }));
    }
    let mut seqs: Vec<i64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<_>>(),
        "concurrent appends take consecutive places"
    );
    let report = store.verify_audit().await.unwrap();
    assert_eq!((report.rows, report.broken_at), (20, None));
    // The database itself refuses to change or delete a row.
    assert!(
        try_exec(&url, "update audit_log set action = 'x' where seq = 5")
            .await
            .is_err()
    );
    assert!(try_exec(&url, "delete from audit_log where seq = 20")
        .await
        .is_err());
    // Someone with the database's owner rights removes the guard and alters a row.
    let drop_guard = match testing::backend() {
        forecourt_store::Backend::Sqlite => "drop trigger audit_log_no_update",
        forecourt_store::Backend::Postgres => "drop trigger audit_log_no_change on audit_log",
    };
    try_exec(&url, drop_guard).await.unwrap();
    try_exec(
        &url,
        "update audit_log set actor = 'user:someone-else' where seq = 7",
    )
    .await
    .unwrap();
    let report = store.verify_audit().await.unwrap();
    assert_eq!(
        report.broken_at.map(|b| b.0),
        Some(7),
        "the altered row is found"
    );
}

#[tokio::test]
async fn removing_the_newest_audit_rows_is_found() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    for _ in 0..3 {
        store.audit(&entry("card.freeze", "k1")).await.unwrap();
    }
    let drop_guard = match testing::backend() {
        forecourt_store::Backend::Sqlite => "drop trigger audit_log_no_delete",
        forecourt_store::Backend::Postgres => "drop trigger audit_log_no_change on audit_log",
    };
    try_exec(&url, drop_guard).await.unwrap();
    try_exec(&url, "delete from audit_log where seq = 3")
        .await
        .unwrap();
    assert!(store.verify_audit().await.unwrap().broken_at.is_some());
}

#[tokio::test]
async fn a_rotated_key_re_encrypts_and_a_wrong_key_is_refused() {
    use forecourt_store::Vault;
    let url = testing::fresh_db().await.unwrap();
    let v1 = Vault::for_tests();
    let store = Store::open(&url, v1.clone()).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .create_customer(&NewCustomer {
            member_code: "8000000002".into(),
            kind: "individual".into(),
            name: "周杰".into(),
            phone: Some("13712345678".into()),
            vehicles: vec![forecourt_store::NewVehicle {
                plate: "粤B12345".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;

    let v2 = Vault::from_key_material(&v1.rotated_key_material()).unwrap();
    assert_eq!(v2.current_version(), 2);
    let store = Store::open(&url, v2).await.unwrap();
    assert_eq!(
        store.reencrypt_personal_data().await.unwrap(),
        3,
        "name, phone and plate"
    );
    assert_eq!(
        store.reencrypt_personal_data().await.unwrap(),
        0,
        "nothing is left under the old key"
    );
    let c = store.customer(&id).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.phone.as_deref()),
        ("周杰", Some("13712345678"))
    );
    assert_eq!(
        store.customer_ids_by_phone("13712345678").await.unwrap(),
        vec![id.clone()],
        "blind indexes survive rotation"
    );
    assert_eq!(store.vehicles(&id).await.unwrap()[0].plate, "粤B12345");
    store.close().await;
    // The old key alone can no longer read the data.
    let old = Store::open(&url, v1).await.unwrap();
    assert!(matches!(
        old.customer(&id).await,
        Err(StoreError::Corrupt(_))
    ));
    old.close().await;
    // A different key altogether is refused at start-up.
    let other = Vault::from_key_material(&Vault::generate_key_material()).unwrap();
    assert!(matches!(
        Store::open(&url, other).await,
        Err(StoreError::Config(_))
    ));
}

#[tokio::test]
async fn retention_picks_only_customers_without_recent_activity_or_money() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    let idle = card(&store, "1000010000000000011").await;
    let funded = card(&store, "1000010000000000012").await;
    fund(&store, &funded, 100, "r1").await;
    // Both customers were registered ten years ago.
    sqlx_exec(&url, "update customer set created_at = 0").await;
    let cutoff = forecourt_store::now_us() - 5 * 365 * 86_400_000_000;
    let due = store.customers_past_retention(cutoff, 10).await.unwrap();
    let owner = |card_id: String| {
        let store = store.clone();
        async move {
            store
                .card_by_id(&card_id)
                .await
                .unwrap()
                .unwrap()
                .customer_id
                .unwrap()
        }
    };
    assert_eq!(
        due,
        vec![owner(idle).await],
        "the customer with money on a card is kept"
    );
    let mut tx = store.begin().await.unwrap();
    tx.anonymize_customer(&due[0]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        store
            .customers_past_retention(cutoff, 10)
            .await
            .unwrap()
            .is_empty(),
        "anonymised once"
    );
    assert_eq!(
        store.card_balance(&funded).await.unwrap().paid_fen,
        100,
        "the funded customer's card is untouched"
    );
    assert_clean(&store).await;
}

/// A fill drops the bulk indexes and builds them at the end; opening a database that
/// lacks them (a fill that died half way) builds them, and one that has them builds none.
#[tokio::test]
async fn bulk_indexes_are_rebuilt_when_missing_and_only_then() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    assert_eq!(store.build_bulk_indexes().await.unwrap(), 0);
    store.drop_bulk_indexes().await.unwrap();
    store.close().await;
    let reopened = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap();
    assert_eq!(
        reopened.build_bulk_indexes().await.unwrap(),
        0,
        "open built them"
    );
    reopened.drop_bulk_indexes().await.unwrap();
    assert_eq!(reopened.build_bulk_indexes().await.unwrap(), 16);
}

/// Commands that read an existing database must not create one: a mistyped path or
/// database name is refused (a check of an empty database would say "clean"), and a
/// database that was migrated opens.
#[tokio::test]
async fn open_existing_refuses_a_missing_or_never_migrated_database() {
    let url = testing::fresh_db().await.unwrap();
    let err = Store::open_existing(&url, forecourt_store::Vault::for_tests())
        .await
        .expect_err("an empty database must be refused");
    assert!(matches!(err, StoreError::NoDatabase(_)), "{err:?}");
    if let Some(path) = url.sqlite_path() {
        assert!(
            !std::path::Path::new(path).exists(),
            "refusing must not create the file"
        );
    }
    Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .unwrap()
        .close()
        .await;
    let store = Store::open_existing(&url, forecourt_store::Vault::for_tests())
        .await
        .expect("a migrated database opens");
    assert!(store.check().await.unwrap().is_clean());
}

//! `Store::write`: on SQLite the group-commit writer (one transaction per batch, a
//! savepoint per unit, answers after the commit); on PostgreSQL a transaction per unit.
//! The same behaviour is asserted on both, and the batching itself on SQLite.

use forecourt_store::{testing, Backend, DbUrl, Store, StoreError, Tx};
use std::time::Duration;

/// A limit on every wait of these tests: a deadlock fails the test instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

async fn store_at() -> (DbUrl, Store) {
    let url = testing::fresh_db().await.expect("a fresh database");
    let store = Store::open(&url, forecourt_store::Vault::for_tests())
        .await
        .expect("open and migrate");
    (url, store)
}

/// A small write: one row of `loyalty_setting`.
async fn put(tx: &mut Tx, key: &str) -> Result<(), StoreError> {
    tx.set_loyalty_setting(key, "written").await
}

async fn present(store: &Store, key: &str) -> bool {
    store.loyalty_setting(key).await.unwrap().is_some()
}

/// How a unit of [`run_in_one_batch`] behaves.
#[derive(Clone, Copy, PartialEq)]
enum Act {
    Write,
    /// Writes its row, then refuses.
    Refuse,
    /// Writes its row, then panics.
    Panic,
}

/// Runs the units concurrently. On SQLite they are made to share one batch: a `begin`
/// transaction holds the write connection until every unit has been handed to the
/// writer, which then takes them all at once; that one batch is asserted.
async fn run_in_one_batch(store: &Store, acts: &[Act]) -> Vec<Result<(), StoreError>> {
    let hold = match store.backend() {
        Backend::Sqlite => Some(store.begin().await.unwrap()),
        Backend::Postgres => None,
    };
    let before = store.write_stats();
    let tasks: Vec<_> = acts
        .iter()
        .enumerate()
        .map(|(i, &act)| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(move |tx| {
                        Box::pin(async move {
                            put(tx, &format!("unit-{i}")).await?;
                            match act {
                                Act::Write => Ok(()),
                                Act::Refuse => {
                                    Err(StoreError::Conflict(format!("unit {i} refused")))
                                }
                                Act::Panic => panic!("unit {i} panics on purpose"),
                            }
                        })
                    })
                    .await
            })
        })
        .collect();
    if let Some(hold) = hold {
        let waited = tokio::time::timeout(PATIENCE, async {
            while store.write_stats().waiting < acts.len() as u64 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the units were never all handed in");
        hold.commit().await.unwrap();
    }
    let mut results = Vec::new();
    for t in tasks {
        let answer = tokio::time::timeout(PATIENCE, t).await.expect("an answer");
        results.push(answer.expect("the caller's task"));
    }
    if store.backend() == Backend::Sqlite {
        let after = store.write_stats();
        assert_eq!(after.batches - before.batches, 1, "one batch: {after:?}");
        assert_eq!(after.units - before.units, acts.len() as u64);
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_units_are_all_committed_in_fewer_commits() {
    const UNITS: u64 = 200;
    let (_, store) = store_at().await;
    let before = store.write_stats();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(UNITS as usize));
    let tasks: Vec<_> = (0..UNITS)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .write(move |tx| {
                        Box::pin(async move {
                            put(tx, &format!("row-{i}")).await?;
                            Ok::<_, StoreError>(i)
                        })
                    })
                    .await
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let answer = tokio::time::timeout(PATIENCE, t).await.expect("an answer");
        assert_eq!(
            answer.unwrap().unwrap(),
            i as u64,
            "each unit gets its own result"
        );
    }
    for i in 0..UNITS {
        assert!(present(&store, &format!("row-{i}")).await, "row {i}");
    }
    let stats = store.write_stats();
    assert_eq!(stats.units - before.units, UNITS);
    assert_eq!(stats.waiting, 0);
    assert_eq!(stats.failed_batches, 0);
    match store.backend() {
        Backend::Sqlite => {
            let batches = stats.batches - before.batches;
            assert!(
                batches < UNITS,
                "group commit: {batches} commits for {UNITS} units"
            );
            assert!(
                stats.largest_batch > 1
                    && stats.largest_batch <= forecourt_store::BATCH_UNITS_MAX as u64
            );
        }
        Backend::Postgres => assert_eq!(stats.batches - before.batches, UNITS),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_unit_is_undone_alone_and_gets_its_own_error() {
    let (_, store) = store_at().await;
    let acts = [Act::Write, Act::Write, Act::Refuse, Act::Write, Act::Write];
    let results = run_in_one_batch(&store, &acts).await;
    for (i, (act, result)) in acts.iter().zip(&results).enumerate() {
        match act {
            Act::Refuse => match result {
                Err(StoreError::Conflict(m)) => assert_eq!(m, &format!("unit {i} refused")),
                other => panic!("unit {i}: expected its own refusal, got {other:?}"),
            },
            _ => assert!(result.is_ok(), "unit {i}: {result:?}"),
        }
        let key = format!("unit-{i}");
        assert_eq!(present(&store, &key).await, *act == Act::Write, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_unit_is_undone_alone_and_the_writer_goes_on() {
    let (_, store) = store_at().await;
    let acts = [Act::Write, Act::Panic, Act::Write, Act::Refuse, Act::Write];
    let results = run_in_one_batch(&store, &acts).await;
    for (i, (act, result)) in acts.iter().zip(&results).enumerate() {
        match act {
            Act::Panic => assert!(
                matches!(result, Err(StoreError::Panicked(m)) if m.contains("on purpose")),
                "unit {i}: {result:?}"
            ),
            Act::Refuse => assert!(matches!(result, Err(StoreError::Conflict(_)))),
            Act::Write => assert!(result.is_ok(), "unit {i}: {result:?}"),
        }
        let key = format!("unit-{i}");
        assert_eq!(present(&store, &key).await, *act == Act::Write, "{key}");
    }
    // The writer still serves.
    let after = store
        .write(|tx| Box::pin(async move { put(tx, "after").await }))
        .await;
    assert!(after.is_ok(), "{after:?}");
    assert!(present(&store, "after").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_comes_only_after_its_commit() {
    use sqlx::Connection;
    const UNITS: usize = 16;
    let (url, store) = store_at().await;
    let tasks: Vec<_> = (0..UNITS)
        .map(|i| {
            let store = store.clone();
            let url = url.clone();
            tokio::spawn(async move {
                // A connection of its own, outside the store: it sees only what is
                // committed, at the moment it asks.
                let mut fresh = sqlx::AnyConnection::connect(url.expose()).await.unwrap();
                let key = format!("seen-{i}");
                let unit_key = key.clone();
                store
                    .write(move |tx| Box::pin(async move { put(tx, &unit_key).await }))
                    .await
                    .unwrap();
                let seen: Option<String> = sqlx::query_scalar(
                    "select setting_value from loyalty_setting where setting_key = $1",
                )
                .bind(&key)
                .fetch_optional(&mut fresh)
                .await
                .unwrap();
                fresh.close().await.unwrap();
                seen.is_some()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let seen = tokio::time::timeout(PATIENCE, t).await.expect("an answer");
        assert!(
            seen.unwrap(),
            "unit {i} was answered before its write was committed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn begin_transactions_and_write_units_take_turns_without_deadlock() {
    const WRITERS: usize = 60;
    let (_, store) = store_at().await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("mixed-{i}");
                if i % 2 == 0 {
                    store
                        .write(move |tx| Box::pin(async move { put(tx, &key).await }))
                        .await
                } else {
                    let mut tx = store.begin().await?;
                    put(&mut tx, &key).await?;
                    // Hold the transaction across a yield, as a request does.
                    tokio::task::yield_now().await;
                    tx.commit().await
                }
            })
        })
        .collect();
    let all = tokio::time::timeout(PATIENCE, async {
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results
    })
    .await
    .expect("begin() and write() deadlocked");
    for (i, r) in all.iter().enumerate() {
        assert!(r.is_ok(), "writer {i}: {r:?}");
        assert!(present(&store, &format!("mixed-{i}")).await, "mixed-{i}");
    }
}

/// A caller's own error type, as the server's `ApiError` would be.
#[derive(Debug)]
enum CallerError {
    Store(StoreError),
    Refused(&'static str),
}

impl From<StoreError> for CallerError {
    fn from(e: StoreError) -> Self {
        CallerError::Store(e)
    }
}

#[tokio::test]
async fn a_unit_answers_in_the_callers_own_types() {
    let (_, store) = store_at().await;
    let card_no = String::from("1000010000000000001");
    let answer: Result<(bool, String), CallerError> = store
        .write(move |tx| {
            Box::pin(async move {
                put(tx, "typed").await?;
                let known = tx.card_by_no(&card_no).await?.is_some();
                Ok((known, card_no))
            })
        })
        .await;
    assert!(
        matches!(answer, Ok((false, ref no)) if no == "1000010000000000001"),
        "{answer:?}"
    );
    let refused: Result<(), CallerError> = store
        .write(|tx| {
            Box::pin(async move {
                put(tx, "refused").await?;
                Err(CallerError::Refused("no"))
            })
        })
        .await;
    assert!(
        matches!(refused, Err(CallerError::Refused("no"))),
        "{refused:?}"
    );
    assert!(present(&store, "typed").await);
    assert!(!present(&store, "refused").await);
    // A store error reaches the caller through its `From`.
    let failed: Result<(), CallerError> = store
        .write(|tx| {
            Box::pin(async move {
                tx.card_by_no("0")
                    .await?
                    .ok_or(StoreError::NotFound("card"))?;
                Ok(())
            })
        })
        .await;
    match failed {
        Err(CallerError::Store(e)) => assert!(matches!(e, StoreError::NotFound("card")), "{e:?}"),
        other => panic!("expected the store's error, got {other:?}"),
    }
}

//! [`Store::write`](crate::Store::write): units of work that group-commit on SQLite.
//!
//! On SQLite the cost of a small write is its commit: with `synchronous = full` every
//! COMMIT waits for an fsync of the WAL, and one transaction per sale pays one fsync per
//! sale. Here one writer task applies every unit queued by concurrent callers in ONE
//! transaction, each unit inside its own savepoint, commits once and only then answers
//! each caller. The fsync is paid once per batch, and durability is unchanged: no caller
//! hears "done" before the commit that holds its writes is on disk.
//!
//! On PostgreSQL there is no writer task: a unit runs in its own transaction on the pool,
//! since there concurrent transactions proceed in parallel under row locks and gain
//! nothing from being queued behind each other. Callers see one interface either way.

use crate::{Backend, Store, StoreError, Tx, Vault};
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A boxed, sendable future borrowing for `'a`: what a unit of [`Store::write`] returns
/// (the same type as `futures::future::BoxFuture`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The most units one SQLite transaction takes. A limit keeps a batch's latency and the
/// size of its rollback bounded; 64 units of a few statements each are well under a
/// millisecond of work, while an fsync costs about that or more.
pub const BATCH_UNITS_MAX: usize = 64;

/// Once a batch has run this long, the writer stops taking queued units into it and
/// commits what it has, so that a burst of slow units cannot keep the first callers of
/// the batch waiting for its commit indefinitely.
pub const BATCH_WORK_MAX: Duration = Duration::from_millis(5);

/// Units that may wait in the queue before callers wait to hand theirs in (back
/// pressure instead of unbounded memory).
pub const QUEUE_UNITS_MAX: usize = 1024;

/// The savepoint each unit runs in. One name serves every unit: units of a batch run
/// one after another and each savepoint is released before the next one is set.
const SAVEPOINT: &str = "forecourt_unit";

/// What the group-commit writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Units answered (committed, refused, failed or panicked).
    pub units: u64,
    /// Transactions the units ran in: commits attempted, each paying one fsync on
    /// SQLite. On PostgreSQL, one per unit that got as far as its commit.
    pub batches: u64,
    /// Batches whose commit (or a savepoint statement) failed, so that every unit in
    /// them was answered with that error.
    pub failed_batches: u64,
    /// The most units one batch held.
    pub largest_batch: u64,
    /// Units handed in and not yet answered.
    pub waiting: u64,
}

/// The writer's counters, shared by the store's clones and the writer task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitted: AtomicU64,
    units: AtomicU64,
    batches: AtomicU64,
    failed_batches: AtomicU64,
    largest_batch: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WriteStats {
        let units = self.units.load(Ordering::Relaxed);
        WriteStats {
            units,
            batches: self.batches.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            // A unit can be answered before its caller counted it as handed in.
            waiting: self.submitted.load(Ordering::Relaxed).saturating_sub(units),
        }
    }

    /// A transaction of `units` units reached its commit, which succeeded or not.
    fn record_batch(&self, units: usize, committed: bool) {
        let units = units as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        if !committed {
            self.failed_batches.fetch_add(1, Ordering::Relaxed);
        }
        self.largest_batch.fetch_max(units, Ordering::Relaxed);
    }
}

/// A unit with its caller's reply channel, its types erased so that units of any
/// result type share one queue.
pub(crate) trait Job: Send {
    /// Runs the unit on the batch's transaction and keeps its result; `true` when it
    /// succeeded, so that its savepoint is released rather than rolled back.
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, bool>;

    /// Answers the caller once the batch is over: with the unit's own result when the
    /// batch committed, with the batch's error otherwise.
    fn answer(self: Box<Self>, batch: Result<(), &StoreError>);
}

struct Unit<F, R, E> {
    unit: Option<F>,
    result: Option<Result<R, E>>,
    panic: Option<String>,
    reply: oneshot::Sender<Result<R, E>>,
}

impl<F, R, E> Job for Unit<F, R, E>
where
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(unit) = self.unit.take() else {
                return false;
            };
            match CatchUnwind(unit(tx)).await {
                Ok(result) => {
                    let ok = result.is_ok();
                    self.result = Some(result);
                    ok
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    tracing::error!(panic = %message, "a write unit panicked; its writes are rolled back");
                    self.panic = Some(message);
                    false
                }
            }
        })
    }

    fn answer(self: Box<Self>, batch: Result<(), &StoreError>) {
        let answer = match (batch, self.result, self.panic) {
            (Err(e), _, _) => Err(E::from(batch_error(e))),
            (Ok(()), Some(result), _) => result,
            (Ok(()), None, panic) => Err(E::from(StoreError::Panicked(
                panic.unwrap_or_else(|| "the unit never ran".into()),
            ))),
        };
        // The caller may have stopped waiting (a dropped request); what was committed
        // stays committed, like a transaction whose answer was lost on the way.
        let _ = self.reply.send(answer);
    }
}

/// The error each unit of a failed batch gets. `StoreError` cannot be cloned (it may
/// hold an `sqlx::Error`), and all the units must hear of the one failure: a conflict
/// between requests stays a retry, anything else says the database could not take the
/// write, which is true for every unit and which a caller may try again later.
fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Retry => StoreError::Retry,
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        other => StoreError::Unavailable(format!("the group commit failed: {other}")),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Polls a future and turns a panic inside it into an `Err`, like
/// `futures::FutureExt::catch_unwind` (which needs the `std` feature of `futures-util`,
/// a rebuild of half the dependency tree for twenty lines).
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // The unit's state is not looked at after a panic: its savepoint is rolled back
        // and the unit itself dropped, so unwind safety is not at stake.
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

tokio::task_local! {
    /// Set inside the writer task: a unit that called `Store::write` or `Store::begin`
    /// on SQLite would wait for the connection its own batch holds.
    static IN_WRITER: ();
}

/// Refuses, as the programming error it is, a write started from inside a unit on
/// SQLite: it would wait forever for the batch it is part of. The panic is caught by
/// the writer and only that unit fails.
pub(crate) fn assert_not_in_writer(what: &str) {
    assert!(
        IN_WRITER.try_with(|_| ()).is_err(),
        "{what} inside a Store::write unit waits for its own batch; use the unit's Tx"
    );
}

/// The sending side of the writer's queue, held by every clone of the store. When the
/// last clone is dropped the queue closes and the writer task ends.
pub(crate) type Queue = mpsc::Sender<Box<dyn Job>>;

/// Starts the SQLite writer task on the write pool; returns its queue. The task holds
/// no `Store`, only the pool, so that dropping the last store ends it.
pub(crate) fn spawn(pool: sqlx::AnyPool, vault: Arc<Vault>, counters: Arc<Counters>) -> Queue {
    let (queue, units) = mpsc::channel(QUEUE_UNITS_MAX);
    let writer = Writer {
        pool,
        vault,
        counters,
    };
    tokio::spawn(IN_WRITER.scope((), writer.run(units)));
    queue
}

/// Hands a unit to the writer and waits for its answer.
pub(crate) async fn submit<F, R, E>(queue: &Queue, counters: &Counters, unit: F) -> Result<R, E>
where
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    assert_not_in_writer("Store::write");
    let (reply, answer) = oneshot::channel();
    let job: Box<dyn Job> = Box::new(Unit {
        unit: Some(unit),
        result: None,
        panic: None,
        reply,
    });
    if queue.send(job).await.is_err() {
        return Err(E::from(StoreError::Unavailable(
            "the store's writer has stopped".into(),
        )));
    }
    counters.submitted.fetch_add(1, Ordering::Relaxed);
    match answer.await {
        Ok(result) => result,
        // Only when the runtime is shutting down with the writer task in it.
        Err(_) => Err(E::from(StoreError::Unavailable(
            "the store's writer stopped before answering".into(),
        ))),
    }
}

/// A unit in its own transaction, for PostgreSQL: begin, the unit, commit, or roll back
/// when it fails or panics. A panic becomes the unit's error as it does on SQLite, so
/// that callers see the same behaviour on both backends.
pub(crate) async fn run_alone<F, R, E>(store: &Store, counters: &Counters, unit: F) -> Result<R, E>
where
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    counters.submitted.fetch_add(1, Ordering::Relaxed);
    // Counted as answered however this ends, a dropped caller included.
    let _answered = Answered(counters);
    let mut tx = store.begin().await?;
    match CatchUnwind(unit(&mut tx)).await {
        Ok(Ok(r)) => {
            let committed = tx.commit().await;
            counters.record_batch(1, committed.is_ok());
            committed?;
            Ok(r)
        }
        Ok(Err(e)) => {
            // Dropping would roll back too, but only when the connection is next used;
            // rolling back now returns a clean connection to the pool.
            let _ = tx.tx.rollback().await;
            Err(e)
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::error!(panic = %message, "a write unit panicked; its transaction is rolled back");
            let _ = tx.tx.rollback().await;
            Err(E::from(StoreError::Panicked(message)))
        }
    }
}

struct Answered<'a>(&'a Counters);

impl Drop for Answered<'_> {
    fn drop(&mut self) {
        self.0.units.fetch_add(1, Ordering::Relaxed);
    }
}

struct Writer {
    pool: sqlx::AnyPool,
    vault: Arc<Vault>,
    counters: Arc<Counters>,
}

impl Writer {
    async fn run(self, mut units: mpsc::Receiver<Box<dyn Job>>) {
        let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(BATCH_UNITS_MAX);
        // Waiting here for the first unit is the only wait: once one is queued the
        // batch starts at once with whatever else is queued by then.
        while let Some(first) = units.recv().await {
            batch.push(first);
            let outcome = self.run_batch(&mut units, &mut batch).await;
            if let Err(e) = &outcome {
                tracing::warn!(error = %e, units = batch.len(), "a group commit failed; every unit of it gets the error");
            }
            // Counted before the answers go out, so that a caller who has its answer
            // finds it in the figures.
            self.counters.record_batch(batch.len(), outcome.is_ok());
            self.counters
                .units
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            for job in batch.drain(..) {
                job.answer(outcome.as_ref().map(|_| ()));
            }
        }
    }

    /// Runs the batch's units, taking more from the queue while there is room and time,
    /// then commits. `Err` means nothing of the batch was committed.
    ///
    /// The batch takes the write pool's one connection like any `Store::begin` caller,
    /// so batches and those transactions take turns on it (the pool hands its
    /// connection out first come, first served); neither can starve the other, and
    /// nothing waits on anything but that one connection.
    async fn run_batch(
        &self,
        units: &mut mpsc::Receiver<Box<dyn Job>>,
        batch: &mut Vec<Box<dyn Job>>,
    ) -> Result<(), StoreError> {
        let mut tx = Tx {
            tx: self.pool.begin().await?,
            backend: Backend::Sqlite,
            vault: self.vault.clone(),
            deferred: None,
            accounts_read: Default::default(),
        };
        let started = Instant::now();
        let mut next = 0;
        loop {
            // Units that arrived while the connection was awaited or while earlier
            // units ran join this batch: they share its fsync at no extra wait.
            if started.elapsed() < BATCH_WORK_MAX {
                while batch.len() < BATCH_UNITS_MAX {
                    match units.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
            }
            let Some(job) = batch.get_mut(next) else {
                break;
            };
            next += 1;
            if let Err(e) = run_unit(&mut tx, job.as_mut()).await {
                // A savepoint statement failed: the transaction may be gone (SQLite
                // rolls back the whole transaction on some errors, such as a full
                // disk), so no unit of the batch can be told it was committed.
                let _ = tx.tx.rollback().await;
                return Err(e);
            }
        }
        tx.commit().await
    }
}

/// One unit in its savepoint: released when the unit succeeded, rolled back (and then
/// released, since `rollback to` keeps the savepoint) when it failed or panicked.
async fn run_unit(tx: &mut Tx, job: &mut dyn Job) -> Result<(), StoreError> {
    use sqlx::Executor;
    // Raw statements rather than sqlx's nested `begin()`: sqlx's savepoint is a
    // `Transaction` borrowing the outer one, which a `Tx` (owning its transaction)
    // cannot hold; sqlx's own depth count stays at one, so the final `commit()` is the
    // real COMMIT.
    tx.tx
        .execute(format!("savepoint {SAVEPOINT}").as_str())
        .await?;
    let kept = job.run(tx).await;
    if !kept {
        tx.tx
            .execute(format!("rollback to savepoint {SAVEPOINT}").as_str())
            .await?;
    }
    tx.tx
        .execute(format!("release savepoint {SAVEPOINT}").as_str())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{DbUrl, Store, StoreError, Vault};
    use std::time::Duration;

    /// An SQLite store whatever the test backend: the writer exists only there.
    async fn sqlite_store() -> Store {
        let dir = std::env::temp_dir().join("forecourt-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let name = uuid::Uuid::now_v7().simple();
        let url = DbUrl::parse(&format!("sqlite://{}/writer_{name}.db", dir.display())).unwrap();
        Store::open(&url, Vault::for_tests()).await.unwrap()
    }

    /// A batch whose transaction is lost under it (here a unit ends it; in life a full
    /// disk or an I/O error makes SQLite roll it back) acknowledges none of its units,
    /// not even those that ran before, and keeps nothing of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_batch_answers_every_unit_with_an_error_and_keeps_nothing() {
        use sqlx::Executor;
        let store = sqlite_store().await;
        // Hold the write connection until all three units are queued: one batch.
        let hold = store.begin().await.unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |tx| {
                            Box::pin(async move {
                                tx.set_loyalty_setting(&format!("lost-{i}"), "x").await?;
                                if i == 1 {
                                    tx.tx.execute("rollback").await?;
                                }
                                Ok::<_, StoreError>(())
                            })
                        })
                        .await
                })
            })
            .collect();
        while store.write_stats().waiting < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        hold.commit().await.unwrap();
        for t in tasks {
            let answer = t.await.unwrap();
            assert!(
                matches!(answer, Err(StoreError::Unavailable(_))),
                "{answer:?}"
            );
        }
        for i in 0..3 {
            let key = format!("lost-{i}");
            assert_eq!(store.loyalty_setting(&key).await.unwrap(), None, "{key}");
        }
        let stats = store.write_stats();
        assert_eq!(
            (stats.batches, stats.failed_batches, stats.units),
            (1, 1, 3)
        );
        // The writer goes on, and what it answers now is committed.
        store
            .write(|tx| Box::pin(async move { tx.set_loyalty_setting("next", "y").await }))
            .await
            .unwrap();
        assert_eq!(
            store.loyalty_setting("next").await.unwrap().as_deref(),
            Some("y")
        );
    }

    #[test]
    fn a_failed_batch_keeps_retry_and_unavailable_and_names_the_rest() {
        assert!(super::batch_error(&StoreError::Retry).is_retry());
        assert!(matches!(
            super::batch_error(&StoreError::Unavailable("gone".into())),
            StoreError::Unavailable(m) if m == "gone"
        ));
        assert!(matches!(
            super::batch_error(&StoreError::Corrupt("disk".into())),
            StoreError::Unavailable(m) if m.contains("group commit failed") && m.contains("disk")
        ));
    }
}

//! Fresh databases for tests: an SQLite file in the temp directory, or a new database
//! on the PostgreSQL server of `FORECOURT_TEST_PG_URL`. The backend comes from
//! `FORECOURT_TEST_BACKEND` (`sqlite`, the default, or `postgres`), so that the same
//! suite runs on both; asking for PostgreSQL without a URL is an error, never a skip.

use crate::{Backend, DbUrl, StoreError};
use sqlx::Executor;

/// The backend the test run is for.
pub fn backend() -> Backend {
    match std::env::var("FORECOURT_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("FORECOURT_TEST_BACKEND is sqlite or postgres, not {other}"),
    }
}

/// A URL of a new, empty database of the test backend.
pub async fn fresh_db() -> Result<DbUrl, StoreError> {
    let name = format!("fc_test_{}", uuid::Uuid::now_v7().simple());
    match backend() {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("forecourt-tests");
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::Config(e.to_string()))?;
            DbUrl::parse(&format!("sqlite://{}/{name}.db", dir.display()))
        }
        Backend::Postgres => {
            let base = std::env::var("FORECOURT_TEST_PG_URL").map_err(|_| {
                StoreError::Config(
                    "FORECOURT_TEST_BACKEND=postgres needs FORECOURT_TEST_PG_URL".into(),
                )
            })?;
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await?;
            conn.execute(format!("create database {name}").as_str())
                .await?;
            let (prefix, _) = base.rsplit_once('/').ok_or_else(|| {
                StoreError::Config("FORECOURT_TEST_PG_URL has no database".into())
            })?;
            DbUrl::parse(&format!("{prefix}/{name}"))
        }
    }
}

/// Every row of every table of a PostgreSQL database as text, like a data dump.
pub async fn pg_dump_text(url: &DbUrl) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url.expose())
        .await
        .expect("connect");
    let tables: Vec<String> =
        sqlx::query_scalar("select tablename::text from pg_tables where schemaname = 'public'")
            .fetch_all(&mut conn)
            .await
            .expect("tables");
    let mut out = String::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("select cast(x.* as text) from {t} x"))
            .fetch_all(&mut conn)
            .await
            .expect("rows");
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

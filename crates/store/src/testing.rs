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

impl crate::Store {
    /// Every row of every table as sorted text, for comparing two databases: without
    /// `schema_migration` (when it was applied), ciphertext columns (`*_enc`, and a
    /// card's `rules`, which seals a bound plate), whose random nonces differ by design.
    pub async fn dump_for_comparison(&self) -> Result<String, StoreError> {
        use sqlx::{Column, Row};
        let tables: Vec<String> = match self.backend() {
            Backend::Sqlite => sqlx::query_scalar(
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name",
            )
            .fetch_all(self.read())
            .await?,
            Backend::Postgres => sqlx::query_scalar(
                "select tablename::text from pg_tables where schemaname = 'public' order by 1",
            )
            .fetch_all(self.read())
            .await?,
        };
        let mut out = String::new();
        for t in tables.iter().filter(|t| *t != "schema_migration") {
            let rows = sqlx::query(&format!("select * from {t}"))
                .fetch_all(self.read())
                .await?;
            let mut lines: Vec<String> = Vec::with_capacity(rows.len());
            for r in &rows {
                let mut line = format!("{t}:");
                for (i, c) in r.columns().iter().enumerate() {
                    let name = c.name();
                    if name.ends_with("_enc") || (t == "card" && name == "rules") {
                        continue;
                    }
                    let v = if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
                        format!("{v:?}")
                    } else if let Ok(v) = r.try_get::<Option<f64>, _>(i) {
                        format!("{v:?}")
                    } else {
                        format!("{:?}", r.try_get::<Option<String>, _>(i)?)
                    };
                    line.push_str(&format!(" {name}={v}"));
                }
                lines.push(line);
            }
            lines.sort();
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// The ids of every customer, in order.
    pub async fn customer_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select customer_id from customer order by customer_id")
                .fetch_all(self.read())
                .await?,
        )
    }
}

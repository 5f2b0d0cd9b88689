//! Moving a whole network from one database to another (SQLite to PostgreSQL, or any
//! backend to any backend).
//!
//! [`export_network`] writes every table of the schema to `DIR/<table>.jsonl`: one JSON
//! array per row, the columns in the table's order, rows in primary-key order, so that
//! the same data always gives the same bytes. `DIR/manifest.json` names the schema
//! version, the columns, the row count and the SHA-256 of every file.
//!
//! [`import_network`] loads such a directory into an empty, migrated database, in one
//! transaction: either the whole network arrives or nothing does. Values are copied as
//! stored: personal data stays encrypted under the source's data key (the target must be
//! opened with the same key, which is checked against the fingerprint the source
//! recorded), and the audit log keeps its rows and hashes, so its chain verifies on the
//! target as it did on the source.

use crate::{Backend, Store, StoreError, VAULT_FINGERPRINT};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// What `manifest.json` says it is.
pub const FORMAT: &str = "forecourt-network";
/// The version of the directory layout, raised when it changes incompatibly.
pub const FORMAT_VERSION: i64 = 1;
pub const MANIFEST: &str = "manifest.json";

/// Every table of the schema, in an order where each table comes after the tables its
/// foreign keys point to. A table that points to itself (a card to its main card) has
/// those columns filled in after all its rows are in. `schema_migration` is not moved:
/// the target has its own, and the manifest's schema version must equal it.
///
/// [`check_table_list`] compares this list with the database's catalogue, so adding a
/// table to a migration without adding it here fails the store contract suite.
pub const TABLES: &[&str] = &[
    "region",
    "station",
    "product",
    "price",
    "tier",
    "staff_user",
    "customer",
    "contact",
    "vehicle",
    "card",
    "account",
    "journal",
    "transfer",
    "sale",
    "sale_line",
    "sale_payment",
    "card_usage",
    "recharge_promotion",
    "recharge",
    "refund",
    "authorization_hold",
    "coupon_template",
    "coupon",
    "credit_agreement",
    "pos_request",
    "staff_session",
    "member_credential",
    "member_session",
    "pos_token",
    "adjustment",
    "credit_payment",
    "loyalty_rule",
    "loyalty_setting",
    "points_cap",
    "points_lot",
    "catalogue_item",
    "redemption",
    "consent",
    "job",
    "message",
    "calendar",
    "station_calendar",
    "sla_policy",
    "ticket",
    "ticket_event",
    "staff_contact",
    "survey",
    "survey_invitation",
    "survey_response",
    "do_not_contact",
    "message_suppression",
    "segment",
    "campaign",
    "campaign_member",
    "care_automation",
    "care_tier_seen",
    "leaflet_batch",
    "leaflet_batch_station",
    "leaflet_code",
    "leaflet_signup",
    "partner",
    "partner_offer",
    "partner_claim",
    "setting",
    "audit_log",
    "audit_head",
];

/// Tables that a migrated database is never without (the default products, tiers and
/// house accounts, the audit head, the key fingerprints). An import replaces their rows
/// with the source's; every other table of the target must be empty.
const SEEDED: &[&str] = &[
    "product",
    "tier",
    "account",
    "setting",
    "audit_head",
    "loyalty_rule",
    "loyalty_setting",
    "coupon_template",
    "calendar",
    "sla_policy",
    "care_automation",
];

/// The tables the migrations do not create.
const NOT_MOVED: &[&str] = &["schema_migration"];

/// The most rows one `insert` carries.
const BATCH_ROWS: usize = 1_000;

/// The column types of the portable schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Text,
    Float,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

/// One table's entry in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub file: String,
    pub columns: Vec<Column>,
    pub rows: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: i64,
    pub schema_version: i64,
    /// `SQLite` or `PostgreSQL`, for the reader's information.
    pub source_backend: String,
    pub exported_at_us: i64,
    pub tables: Vec<TableEntry>,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            StoreError::Config(format!("{} is not a network manifest: {e}", path.display()))
        })?;
        if m.format != FORMAT || m.format_version != FORMAT_VERSION {
            return Err(StoreError::Config(format!(
                "{} is {} version {}; this forecourt reads {FORMAT} version {FORMAT_VERSION}",
                path.display(),
                m.format,
                m.format_version
            )));
        }
        Ok(m)
    }

    pub fn rows(&self, table: &str) -> Option<u64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }
}

/// A foreign key: `table.column` points to a row of `references`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub table: String,
    pub column: String,
    pub references: String,
}

/// A table as the database describes it.
#[derive(Debug, Clone)]
struct Shape {
    name: String,
    columns: Vec<Column>,
    /// The primary key's columns; every column when the table has none.
    key: Vec<String>,
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Config(format!("{}: {e}", path.display()))
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn column_type(table: &str, column: &str, declared: &str) -> Result<ColumnType, StoreError> {
    match declared.to_ascii_lowercase().as_str() {
        "bigint" | "integer" | "int" | "smallint" | "int8" => Ok(ColumnType::Integer),
        "text" => Ok(ColumnType::Text),
        "double precision" | "real" | "float8" => Ok(ColumnType::Float),
        other => Err(StoreError::Config(format!(
            "{table}.{column} has the type {other:?}, outside the portable subset"
        ))),
    }
}

/// The tables of the database (without `schema_migration`), sorted by name.
pub async fn schema_tables(store: &Store) -> Result<Vec<String>, StoreError> {
    let sql = match store.backend() {
        Backend::Sqlite => {
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name"
        }
        Backend::Postgres => {
            "select tablename::text from pg_tables where schemaname = current_schema() order by tablename"
        }
    };
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(store.read()).await?;
    Ok(names
        .into_iter()
        .filter(|n| !NOT_MOVED.contains(&n.as_str()))
        .collect())
}

/// Every foreign key of the moved tables.
pub async fn foreign_keys(store: &Store) -> Result<Vec<ForeignKey>, StoreError> {
    let mut out = Vec::new();
    match store.backend() {
        Backend::Sqlite => {
            for table in schema_tables(store).await? {
                let rows = sqlx::query(
                    "select \"from\", \"table\" from pragma_foreign_key_list($1) order by id, seq",
                )
                .bind(&table)
                .fetch_all(store.read())
                .await?;
                for r in rows {
                    out.push(ForeignKey {
                        table: table.clone(),
                        column: r.try_get(0)?,
                        references: r.try_get(1)?,
                    });
                }
            }
        }
        Backend::Postgres => {
            let rows = sqlx::query(
                "select t.relname::text, a.attname::text, r.relname::text \
                 from pg_constraint c \
                 join pg_class t on t.oid = c.conrelid \
                 join pg_namespace n on n.oid = t.relnamespace \
                 join pg_class r on r.oid = c.confrelid \
                 join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey) \
                 where c.contype = 'f' and n.nspname = current_schema()",
            )
            .fetch_all(store.read())
            .await?;
            for r in rows {
                out.push(ForeignKey {
                    table: r.try_get(0)?,
                    column: r.try_get(1)?,
                    references: r.try_get(2)?,
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Refuses a database whose tables are not exactly [`TABLES`], or whose foreign keys
/// point to a table listed later: the list must be kept in step with the migrations.
pub async fn check_table_list(store: &Store) -> Result<(), StoreError> {
    let found: BTreeSet<String> = schema_tables(store).await?.into_iter().collect();
    let listed: BTreeSet<String> = TABLES.iter().map(|t| t.to_string()).collect();
    let unlisted: Vec<&String> = found.difference(&listed).collect();
    if !unlisted.is_empty() {
        return Err(StoreError::Config(format!(
            "the schema has tables that network::TABLES does not list: {unlisted:?}"
        )));
    }
    let missing: Vec<&String> = listed.difference(&found).collect();
    if !missing.is_empty() {
        return Err(StoreError::Config(format!(
            "network::TABLES lists tables the schema does not have: {missing:?}"
        )));
    }
    let position = |t: &str| TABLES.iter().position(|x| *x == t);
    for fk in foreign_keys(store).await? {
        if position(&fk.references) > position(&fk.table) {
            return Err(StoreError::Config(format!(
                "network::TABLES lists {} before {}, which {}.{} points to",
                fk.table, fk.references, fk.table, fk.column
            )));
        }
    }
    Ok(())
}

async fn shape(store: &Store, table: &str) -> Result<Shape, StoreError> {
    let (columns, key): (Vec<(String, String)>, Vec<String>) = match store.backend() {
        Backend::Sqlite => {
            let rows = sqlx::query("select name, type, pk from pragma_table_info($1) order by cid")
                .bind(table)
                .fetch_all(store.read())
                .await?;
            let mut columns = Vec::new();
            let mut key = Vec::new();
            for r in rows {
                let name: String = r.try_get(0)?;
                let pk: i64 = r.try_get(2)?;
                if pk > 0 {
                    key.push((pk, name.clone()));
                }
                columns.push((name, r.try_get(1)?));
            }
            key.sort();
            (columns, key.into_iter().map(|(_, n)| n).collect())
        }
        Backend::Postgres => {
            let rows = sqlx::query(
                "select column_name::text, data_type::text from information_schema.columns \
                 where table_schema = current_schema() and table_name = $1 order by ordinal_position",
            )
            .bind(table)
            .fetch_all(store.read())
            .await?;
            let columns = rows
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
            let key: Vec<String> = sqlx::query_scalar(
                "select k.column_name::text from information_schema.table_constraints c \
                 join information_schema.key_column_usage k on k.constraint_schema = c.constraint_schema \
                 and k.constraint_name = c.constraint_name and k.table_name = c.table_name \
                 where c.table_schema = current_schema() and c.table_name = $1 \
                 and c.constraint_type = 'PRIMARY KEY' order by k.ordinal_position",
            )
            .bind(table)
            .fetch_all(store.read())
            .await?;
            (columns, key)
        }
    };
    if columns.is_empty() {
        return Err(StoreError::Config(format!(
            "the database has no table {table}"
        )));
    }
    let columns = columns
        .into_iter()
        .map(|(name, declared)| {
            Ok(Column {
                ty: column_type(table, &name, &declared)?,
                name,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let key = if key.is_empty() {
        columns.iter().map(|c| c.name.clone()).collect()
    } else {
        key
    };
    Ok(Shape {
        name: table.to_string(),
        columns,
        key,
    })
}

async fn shapes(store: &Store) -> Result<Vec<Shape>, StoreError> {
    let mut out = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        out.push(shape(store, t).await?);
    }
    Ok(out)
}

/// The `select` that reads a table in key order. Text keys are compared byte by byte on
/// PostgreSQL too, so that both backends write their rows in the same order.
fn select_sql(backend: Backend, shape: &Shape) -> String {
    let columns: Vec<String> = shape.columns.iter().map(|c| quote(&c.name)).collect();
    let order: Vec<String> = shape
        .key
        .iter()
        .map(|k| {
            let text = shape
                .columns
                .iter()
                .any(|c| &c.name == k && c.ty == ColumnType::Text);
            match backend {
                Backend::Postgres if text => format!("{} collate \"C\"", quote(k)),
                _ => quote(k),
            }
        })
        .collect();
    format!(
        "select {} from {} order by {}",
        columns.join(", "),
        quote(&shape.name),
        order.join(", ")
    )
}

fn json_row(shape: &Shape, row: &sqlx::any::AnyRow) -> Result<Vec<Value>, StoreError> {
    shape
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(match c.ty {
                ColumnType::Integer => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null, Value::from),
                ColumnType::Text => row
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Null, Value::from),
                ColumnType::Float => match row.try_get::<Option<f64>, _>(i)? {
                    None => Value::Null,
                    Some(f) => serde_json::Number::from_f64(f)
                        .map(Value::Number)
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "{}.{} holds {f}, which JSON cannot carry",
                                shape.name, c.name
                            ))
                        })?,
                },
            })
        })
        .collect()
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes every table of the network to `dir` (created if missing, refused if not
/// empty), from one consistent snapshot. `progress` is called with the table and the
/// rows written so far.
pub async fn export_network(
    store: &Store,
    dir: &Path,
    mut progress: impl FnMut(&str, u64),
) -> Result<Manifest, StoreError> {
    check_table_list(store).await?;
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    if std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .next()
        .is_some()
    {
        return Err(StoreError::Config(format!(
            "{} is not empty: export a network into a new directory",
            dir.display()
        )));
    }
    let shapes = shapes(store).await?;
    let schema_version = store.schema_version().await?;
    let mut tx = store.read().begin().await?;
    if store.backend() == Backend::Postgres {
        // Every table from the same snapshot, while the network may go on selling.
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
    }
    let mut tables = Vec::with_capacity(shapes.len());
    for shape in &shapes {
        let file = format!("{}.jsonl", shape.name);
        let path = dir.join(&file);
        let f = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
        let mut out = Hashing {
            inner: BufWriter::new(f),
            hash: Sha256::new(),
        };
        let sql = select_sql(store.backend(), shape);
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        let (mut count, mut reported) = (0u64, 0u64);
        while let Some(row) = rows.try_next().await? {
            let values = json_row(shape, &row)?;
            serde_json::to_writer(&mut out, &values)?;
            out.write_all(b"\n").map_err(|e| io(&path, e))?;
            count += 1;
            if count - reported == 10_000 {
                progress(&shape.name, count);
                reported = count;
            }
        }
        drop(rows);
        progress(&shape.name, count);
        let Hashing { inner, hash } = out;
        let f = inner.into_inner().map_err(|e| io(&path, e.into_error()))?;
        f.sync_all().map_err(|e| io(&path, e))?;
        tables.push(TableEntry {
            name: shape.name.clone(),
            file,
            columns: shape.columns.clone(),
            rows: count,
            sha256: hex::encode(hash.finalize()),
        });
    }
    tx.rollback().await?;
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        schema_version,
        source_backend: store.backend().name().into(),
        exported_at_us: crate::now_us(),
        tables,
    };
    // The manifest is written last: a directory without one is an unfinished export.
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(&path, text + "\n").map_err(|e| io(&path, e))?;
    Ok(manifest)
}

/// What an import loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Rows per table, in the order they were loaded.
    pub tables: Vec<(String, u64)>,
}

impl ImportReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// One value to bind, typed by its column so that a null has the column's type.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Integer(Option<i64>),
    Text(Option<String>),
    Float(Option<f64>),
}

impl Cell {
    fn null(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Integer => Cell::Integer(None),
            ColumnType::Text => Cell::Text(None),
            ColumnType::Float => Cell::Float(None),
        }
    }

    fn is_null(&self) -> bool {
        matches!(
            self,
            Cell::Integer(None) | Cell::Text(None) | Cell::Float(None)
        )
    }

    fn from_json(ty: ColumnType, v: Value) -> Option<Self> {
        Some(match (ty, v) {
            (_, Value::Null) => Cell::null(ty),
            (ColumnType::Integer, Value::Number(n)) => Cell::Integer(Some(n.as_i64()?)),
            (ColumnType::Text, Value::String(s)) => Cell::Text(Some(s)),
            (ColumnType::Float, Value::Number(n)) => Cell::Float(Some(n.as_f64()?)),
            _ => return None,
        })
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind(q: AnyQuery<'_>, cell: Cell) -> AnyQuery<'_> {
    match cell {
        Cell::Integer(v) => q.bind(v),
        Cell::Text(v) => q.bind(v),
        Cell::Float(v) => q.bind(v),
    }
}

/// The most bind parameters one statement may have.
fn max_parameters(backend: Backend) -> usize {
    match backend {
        // SQLITE_MAX_VARIABLE_NUMBER (since SQLite 3.32).
        Backend::Sqlite => 32_766,
        // The wire protocol counts parameters in 16 bits.
        Backend::Postgres => 65_535,
    }
}

fn insert_sql(shape: &Shape, rows: usize) -> String {
    let n = shape.columns.len();
    let columns: Vec<String> = shape.columns.iter().map(|c| quote(&c.name)).collect();
    let mut sql = format!(
        "insert into {} ({}) values ",
        quote(&shape.name),
        columns.join(", ")
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * n + c + 1));
        }
        sql.push(')');
    }
    sql
}

async fn insert_batch(
    tx: &mut crate::Tx,
    shape: &Shape,
    batch: &mut Vec<Vec<Cell>>,
    full_size: usize,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let sql = insert_sql(shape, batch.len());
    // Full batches reuse one prepared statement; the last, shorter one is not kept.
    let mut q = sqlx::query(&sql).persistent(batch.len() == full_size);
    for row in batch.drain(..) {
        for cell in row {
            q = bind(q, cell);
        }
    }
    q.execute(&mut *tx.tx).await?;
    Ok(())
}

/// Checks every file of the manifest against its row count and SHA-256.
fn verify_files(dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    for t in &manifest.tables {
        let path = dir.join(&t.file);
        if t.file.contains('/') || t.file.contains('\\') || t.file.starts_with('.') {
            return Err(StoreError::Config(format!(
                "the manifest names the file {:?}, outside the directory",
                t.file
            )));
        }
        let mut f = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
        let mut hash = Sha256::new();
        let mut lines = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| io(&path, e))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
        if hex::encode(hash.finalize()) != t.sha256 {
            return Err(StoreError::Config(format!(
                "{} does not match its SHA-256 in the manifest: the export is damaged or was changed",
                path.display()
            )));
        }
        if lines != t.rows {
            return Err(StoreError::Config(format!(
                "{} has {lines} rows, the manifest says {}",
                path.display(),
                t.rows
            )));
        }
    }
    Ok(())
}

/// Reads one table file row by row.
struct Rows {
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    line: u64,
}

impl Rows {
    fn open(path: PathBuf) -> Result<Self, StoreError> {
        let f = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
        Ok(Self {
            lines: BufReader::with_capacity(1 << 16, f).lines(),
            path,
            line: 0,
        })
    }

    fn next(&mut self, columns: &[Column]) -> Result<Option<Vec<Cell>>, StoreError> {
        let Some(text) = self.lines.next() else {
            return Ok(None);
        };
        self.line += 1;
        let text = text.map_err(|e| io(&self.path, e))?;
        let bad = |why: String| {
            StoreError::Config(format!("{} line {}: {why}", self.path.display(), self.line))
        };
        let values: Vec<Value> =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a JSON array: {e}")))?;
        if values.len() != columns.len() {
            return Err(bad(format!(
                "{} values for {} columns",
                values.len(),
                columns.len()
            )));
        }
        values
            .into_iter()
            .zip(columns)
            .map(|(v, c)| {
                let shown = v.to_string();
                Cell::from_json(c.ty, v)
                    .ok_or_else(|| bad(format!("{} is not a {:?} for {}", shown, c.ty, c.name)))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// The source's value of a `setting`, read from the export.
pub fn exported_setting(dir: &Path, name: &str) -> Result<Option<String>, StoreError> {
    let manifest = Manifest::read(dir)?;
    let entry = manifest
        .tables
        .iter()
        .find(|t| t.name == "setting")
        .ok_or_else(|| StoreError::Config("the export has no setting table".into()))?;
    let at = |col: &str| entry.columns.iter().position(|c| c.name == col);
    let (Some(n), Some(v)) = (at("name"), at("value")) else {
        return Err(StoreError::Config(
            "the export's setting table has no name and value".into(),
        ));
    };
    let mut rows = Rows::open(dir.join(&entry.file))?;
    while let Some(row) = rows.next(&entry.columns)? {
        if row[n] == Cell::Text(Some(name.to_string())) {
            if let Cell::Text(value) = &row[v] {
                return Ok(value.clone());
            }
        }
    }
    Ok(None)
}

/// Refuses a target that holds anything of its own beyond what migrating seeds.
async fn check_empty(store: &Store) -> Result<(), StoreError> {
    let mut found = Vec::new();
    for table in TABLES.iter().filter(|t| !SEEDED.contains(t)) {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {}", quote(table)))
            .fetch_one(store.read())
            .await?;
        if n > 0 {
            found.push(format!("{table} ({n})"));
        }
    }
    let own_accounts: Vec<String> = sqlx::query_scalar("select account_id from account")
        .fetch_all(store.read())
        .await?;
    let own_accounts = own_accounts
        .iter()
        .filter(|a| !crate::migrate::HOUSE_ACCOUNTS.iter().any(|(h, _)| h == *a))
        .count();
    if own_accounts > 0 {
        found.push(format!(
            "account ({own_accounts} beyond the house accounts)"
        ));
    }
    let audit_seq: i64 = sqlx::query_scalar("select seq from audit_head where id = 1")
        .fetch_one(store.read())
        .await?;
    if audit_seq != 0 {
        found.push(format!("audit_head (at entry {audit_seq})"));
    }
    if !found.is_empty() {
        return Err(StoreError::Config(format!(
            "the target database is not empty (it has rows in {}): import a network only into a new database",
            found.join(", ")
        )));
    }
    Ok(())
}

/// Loads an export made by [`export_network`] into this store, which must be migrated to
/// the same schema version and otherwise empty, and opened with the source's data key.
/// Everything happens in one transaction. `progress` is called with the table, the rows
/// loaded and the rows the table has.
pub async fn import_network(
    store: &Store,
    dir: &Path,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<ImportReport, StoreError> {
    let manifest = Manifest::read(dir)?;
    let version = store.schema_version().await?;
    if manifest.schema_version != version {
        return Err(StoreError::Config(format!(
            "the export is of schema version {}, the target database of version {version}: \
             migrate both with the same forecourt",
            manifest.schema_version
        )));
    }
    check_table_list(store).await?;
    let shapes = shapes(store).await?;
    let listed: BTreeMap<&str, &TableEntry> = manifest
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    if listed.len() != manifest.tables.len() || listed.len() != shapes.len() {
        return Err(StoreError::Config(format!(
            "the export has {} tables, the target {}",
            manifest.tables.len(),
            shapes.len()
        )));
    }
    for shape in &shapes {
        match listed.get(shape.name.as_str()) {
            Some(t) if t.columns == shape.columns => {}
            Some(_) => {
                return Err(StoreError::Config(format!(
                    "the columns of {} differ between the export and the target",
                    shape.name
                )))
            }
            None => {
                return Err(StoreError::Config(format!(
                    "the export has no table {}",
                    shape.name
                )))
            }
        }
    }
    verify_files(dir, &manifest)?;
    if let Some(source) = exported_setting(dir, VAULT_FINGERPRINT)? {
        if source != store.vault_fingerprint() {
            return Err(StoreError::Config(
                "the data key given for the target is not the one the source was written with: \
                 use the source's key file (FORECOURT_DATA_KEY_FILE) or FORECOURT_DATA_KEY"
                    .into(),
            ));
        }
    }
    check_empty(store).await?;
    // Columns that point into their own table are filled in once all its rows are in.
    let mut late: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for fk in foreign_keys(store).await? {
        if fk.table == fk.references {
            late.entry(fk.table).or_default().push(fk.column);
        }
    }

    let backend = store.backend();
    let mut tx = store.begin().await?;
    for table in SEEDED {
        sqlx::query(&format!("delete from {}", quote(table)))
            .execute(&mut *tx.tx)
            .await?;
    }
    let mut report = ImportReport::default();
    for shape in &shapes {
        let entry = listed[shape.name.as_str()];
        let total = entry.rows;
        let per_batch = (max_parameters(backend) / shape.columns.len()).clamp(1, BATCH_ROWS);
        let late_cols: Vec<usize> = late
            .get(&shape.name)
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| shape.columns.iter().position(|x| &x.name == c))
                    .collect()
            })
            .unwrap_or_default();
        let key_cols: Vec<usize> = shape
            .key
            .iter()
            .filter_map(|k| shape.columns.iter().position(|c| &c.name == k))
            .collect();
        // (key values, late values) of rows whose late columns are set.
        let mut deferred: Vec<(Vec<Cell>, Vec<Cell>)> = Vec::new();
        let mut rows = Rows::open(dir.join(&entry.file))?;
        let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(per_batch);
        let mut done = 0u64;
        progress(&shape.name, 0, total);
        while let Some(mut row) = rows.next(&shape.columns)? {
            if !late_cols.is_empty() && late_cols.iter().any(|&i| !row[i].is_null()) {
                let later: Vec<Cell> = late_cols
                    .iter()
                    .map(|&i| std::mem::replace(&mut row[i], Cell::null(shape.columns[i].ty)))
                    .collect();
                deferred.push((key_cols.iter().map(|&i| row[i].clone()).collect(), later));
            }
            batch.push(row);
            done += 1;
            if batch.len() == per_batch {
                insert_batch(&mut tx, shape, &mut batch, per_batch).await?;
                progress(&shape.name, done, total);
            }
        }
        insert_batch(&mut tx, shape, &mut batch, per_batch).await?;
        if !deferred.is_empty() {
            let sets: Vec<String> = late_cols
                .iter()
                .enumerate()
                .map(|(n, &i)| format!("{} = ${}", quote(&shape.columns[i].name), n + 1))
                .collect();
            let wheres: Vec<String> = key_cols
                .iter()
                .enumerate()
                .map(|(n, &i)| {
                    format!(
                        "{} = ${}",
                        quote(&shape.columns[i].name),
                        late_cols.len() + n + 1
                    )
                })
                .collect();
            let sql = format!(
                "update {} set {} where {}",
                quote(&shape.name),
                sets.join(", "),
                wheres.join(" and ")
            );
            for (key, later) in deferred {
                let mut q = sqlx::query(&sql);
                for cell in later.into_iter().chain(key) {
                    q = bind(q, cell);
                }
                q.execute(&mut *tx.tx).await?;
            }
        }
        if done != total {
            return Err(StoreError::Config(format!(
                "{} has {done} rows, the manifest says {total}",
                entry.file
            )));
        }
        progress(&shape.name, done, total);
        report.tables.push((shape.name.clone(), done));
    }
    tx.commit().await?;
    if backend == Backend::Postgres {
        // Fresh tables have no planner statistics until autovacuum comes by; without
        // them the first queries (the ledger check among them) can take the slow plans.
        for table in TABLES {
            sqlx::query(&format!("analyze {}", quote(table)))
                .execute(&store.write)
                .await?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_number_their_parameters_row_by_row() {
        let shape = Shape {
            name: "t".into(),
            columns: vec![
                Column {
                    name: "a".into(),
                    ty: ColumnType::Text,
                },
                Column {
                    name: "b".into(),
                    ty: ColumnType::Integer,
                },
            ],
            key: vec!["a".into()],
        };
        assert_eq!(
            insert_sql(&shape, 2),
            "insert into \"t\" (\"a\", \"b\") values ($1, $2), ($3, $4)"
        );
        assert_eq!(
            select_sql(Backend::Postgres, &shape),
            "select \"a\", \"b\" from \"t\" order by \"a\" collate \"C\""
        );
        assert_eq!(
            select_sql(Backend::Sqlite, &shape),
            "select \"a\", \"b\" from \"t\" order by \"a\""
        );
    }

    #[test]
    fn cells_keep_their_column_type() {
        assert_eq!(
            Cell::from_json(ColumnType::Integer, serde_json::json!(5)),
            Some(Cell::Integer(Some(5)))
        );
        assert_eq!(
            Cell::from_json(ColumnType::Float, serde_json::json!(39.9)),
            Some(Cell::Float(Some(39.9)))
        );
        assert_eq!(
            Cell::from_json(ColumnType::Text, Value::Null),
            Some(Cell::Text(None))
        );
        assert_eq!(
            Cell::from_json(ColumnType::Integer, serde_json::json!("5")),
            None
        );
        assert_eq!(
            Cell::from_json(ColumnType::Integer, serde_json::json!(1.5)),
            None
        );
    }
}

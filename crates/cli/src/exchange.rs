//! `forecourt export network`, `forecourt import network` (moving a whole network to
//! another database, e.g. from SQLite to PostgreSQL) and `forecourt export sales` (sales
//! as the CSV that `forecourt import sales` reads). The work is done by
//! `forecourt_store::network` and `forecourt_app::export`; this is the wiring.

use crate::{
    data_key_path, load_secret, open_existing, secret_path, vault_for, DbArgs, SecretArgs,
};
use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use forecourt_store::network;
use forecourt_store::{DbUrl, Store};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Write every table of the network to a new directory (one JSON-lines file per table
    /// and a manifest with row counts and SHA-256 hashes), to load into another database
    /// with `forecourt import network`. See docs/import.md.
    Network {
        #[command(flatten)]
        db: DbArgs,
        /// The directory to create; it must not exist or be empty.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        secret: SecretArgs,
    },
    /// Write sales as CSV in the format `forecourt import sales` reads.
    Sales {
        #[command(flatten)]
        db: DbArgs,
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// The first business day (YYYY-MM-DD, in each station's time zone).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// The last business day, included.
        #[arg(long)]
        to: Option<NaiveDate>,
        /// Only the sales of this station (its code).
        #[arg(long)]
        station: Option<String>,
    },
}

#[derive(Args)]
pub struct ImportNetworkArgs {
    /// The directory written by `forecourt export network`.
    dir: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    secret: SecretArgs,
}

pub async fn export(command: ExportCommand) -> anyhow::Result<()> {
    match command {
        ExportCommand::Network { db, out, secret } => {
            let (url, store) = open_existing(&db.db).await?;
            let manifest = network::export_network(&store, &out, |table, rows| {
                eprint!("\r{:<60}", format!("exporting {table}: {rows} rows"));
            })
            .await
            .with_context(|| format!("exporting the network to {}", out.display()))?;
            eprintln!();
            let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
            println!(
                "exported {rows} rows of {} tables (schema version {}) to {}",
                manifest.tables.len(),
                manifest.schema_version,
                out.display()
            );
            let key = if std::env::var("FORECOURT_DATA_KEY").is_ok() {
                "FORECOURT_DATA_KEY".to_string()
            } else {
                data_key_path(&url).display().to_string()
            };
            let secret = if std::env::var("FORECOURT_SECRET").is_ok() {
                "FORECOURT_SECRET".to_string()
            } else {
                secret_path(&url, &secret).display().to_string()
            };
            println!(
                "personal data stays encrypted: the target needs this database's data key ({key}) and server secret ({secret})"
            );
            Ok(())
        }
        ExportCommand::Sales {
            db,
            out,
            from,
            to,
            station,
        } => {
            let (_, store) = open_existing(&db.db).await?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let report = forecourt_app::export::export_sales(
                &store,
                &mut writer,
                &forecourt_app::export::SalesExport {
                    from,
                    to,
                    station_code: station,
                },
                |sales| eprint!("\rexporting sales: {sales}"),
            )
            .await?;
            writer.flush()?;
            eprintln!();
            println!(
                "exported {} sales ({} rows) to {}",
                report.sales,
                report.rows,
                out.display()
            );
            Ok(())
        }
    }
}

pub async fn import_network(args: ImportNetworkArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    let manifest = network::Manifest::read(dir)?;
    let url = DbUrl::parse(&args.db.db)?;
    // The target must read what the source encrypted: never start it with a new key.
    if std::env::var("FORECOURT_DATA_KEY").is_err() && !data_key_path(&url).exists() {
        bail!(
            "no data key at {}: give the target the source's key file (FORECOURT_DATA_KEY_FILE=SOURCE.keys) or FORECOURT_DATA_KEY",
            data_key_path(&url).display()
        );
    }
    if let Some(source) = network::exported_setting(dir, "secret_fingerprint")? {
        if std::env::var("FORECOURT_SECRET").is_err() && !secret_path(&url, &args.secret).exists() {
            bail!(
                "no server secret at {}: give the target the source's secret file (--secret-file SOURCE.secret) or FORECOURT_SECRET",
                secret_path(&url, &args.secret).display()
            );
        }
        if load_secret(&url, &args.secret)?.fingerprint() != source {
            bail!("the server secret given for the target is not the one the source was written with; card PINs would not verify");
        }
    }
    // Migrated, but the key is checked against the source's by the import itself.
    let store = Store::connect(&url, vault_for(&url)?)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    store.migrate().await?;
    eprintln!(
        "importing {} rows from {} (schema version {}, exported from {}) into {url} ({})",
        manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
        dir.display(),
        manifest.schema_version,
        manifest.source_backend,
        store.backend().name()
    );
    let started = std::time::Instant::now();
    let report = network::import_network(&store, dir, |table, done, total| {
        eprint!(
            "\r{:<60}",
            format!("importing {table}: {done}/{total} rows")
        );
    })
    .await
    .with_context(|| format!("importing the network from {}", dir.display()))?;
    eprintln!();
    println!(
        "imported {} rows in {} tables in {:.1} s",
        report.rows(),
        report.tables.len(),
        started.elapsed().as_secs_f64()
    );

    let check = store.check().await?;
    println!(
        "checked {} accounts, {} journal entries, {} transfers, {} sales",
        check.accounts, check.journals, check.transfers, check.sales
    );
    for p in &check.problems {
        println!("DIFFERENCE: {p}");
    }
    println!(
        "{}",
        if check.is_clean() {
            "ledger clean: every balance matches"
        } else {
            "ledger NOT clean"
        }
    );
    let audit = store.verify_audit().await?;
    match &audit.broken_at {
        None => println!("audit log intact: {} entries, chain unbroken", audit.rows),
        Some((seq, why)) => println!("audit log BROKEN at entry {seq}: {why}"),
    }
    if !check.is_clean() || audit.broken_at.is_some() {
        std::process::exit(1);
    }
    Ok(())
}

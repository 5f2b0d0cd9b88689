//! Bulk import of sales from CSV, through the same POS API as live sales: every sale is
//! priced, checked and posted by the same code, atomically, and is idempotent on its
//! `(station_code, pos_txn_id)`, so importing a file twice changes nothing the second
//! time.
//!
//! The format (UTF-8, a header row, columns in any order; empty cells are absent):
//!
//! | column | meaning |
//! | --- | --- |
//! | `pos_txn_id` | the sale's key at its station (required) |
//! | `station_code` | the station (required) |
//! | `occurred_at` | RFC 3339 (required) |
//! | `card_no`, `phone`, `plate`, `member_code` | who the sale is for (optional) |
//! | `product_code`, `volume_ml`, `quantity`, `unit_price_fen`, `amount_fen` | one line |
//! | `payment_method`, `payment_amount_fen`, `payment_card_no`, `payment_coupon_code` | one payment (optional) |
//!
//! Consecutive rows with the same station and `pos_txn_id` form one sale: each row adds
//! its line and, when `payment_method` is set, its payment. A row without a product only
//! adds its payment (a sale with more payments than lines).

use crate::bulk::{LineIn, PayIn, Poster, SaleIn, Who};
use crate::error::AppError;
use crate::App;
use forecourt_store::Station;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Sales per transaction.
const BATCH_SALES: usize = 5_000;

/// The most rows one import takes; larger files are split.
pub const ROWS_MAX: usize = 5_000_000;

/// One row that was not imported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The line of the file (the header is line 1).
    pub line: usize,
    pub pos_txn_id: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub sales_imported: usize,
    /// Sales already in the database from an earlier import (or the POS).
    pub sales_already_present: usize,
    pub rejected: Vec<Rejected>,
}

struct Pending {
    first_line: usize,
    station: String,
    body: Map<String, Value>,
    lines: Vec<Value>,
    payments: Vec<Value>,
}

fn cell<'a>(
    row: &'a csv::StringRecord,
    index: &HashMap<String, usize>,
    name: &str,
) -> Option<&'a str> {
    index
        .get(name)
        .and_then(|i| row.get(*i))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn int(
    row: &csv::StringRecord,
    index: &HashMap<String, usize>,
    name: &str,
) -> Result<Option<i64>, String> {
    cell(row, index, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("{name}: {v:?} is not a whole number"))
        })
        .transpose()
}

/// A parsed row: its `pos_txn_id`, station, line, payment and the sale's head fields.
type Row = (
    String,
    String,
    Option<Value>,
    Option<Value>,
    Map<String, Value>,
);

fn parse_row(row: &csv::StringRecord, index: &HashMap<String, usize>) -> Result<Row, String> {
    let txn = cell(row, index, "pos_txn_id")
        .ok_or("pos_txn_id is missing")?
        .to_string();
    let station = cell(row, index, "station_code")
        .ok_or("station_code is missing")?
        .to_string();
    let at = cell(row, index, "occurred_at").ok_or("occurred_at is missing")?;
    let payment = match cell(row, index, "payment_method") {
        Some(method) => {
            let amount =
                int(row, index, "payment_amount_fen")?.ok_or("payment_amount_fen is missing")?;
            let mut p = json!({"method": method, "amount_fen": amount});
            if let Some(card) = cell(row, index, "payment_card_no") {
                p["card_no"] = json!(card);
            }
            if let Some(coupon) = cell(row, index, "payment_coupon_code") {
                p["coupon_code"] = json!(coupon);
            }
            Some(p)
        }
        None => None,
    };
    let line = match cell(row, index, "product_code") {
        Some(product) => {
            let price = int(row, index, "unit_price_fen")?.ok_or("unit_price_fen is missing")?;
            let mut line = json!({"product_code": product, "unit_price_fen": price});
            for name in ["volume_ml", "quantity", "amount_fen"] {
                if let Some(v) = int(row, index, name)? {
                    line[name] = json!(v);
                }
            }
            Some(line)
        }
        // A row with a payment only: the sale has more payments than lines.
        None if payment.is_some() => None,
        None => return Err("product_code is missing".into()),
    };
    let mut head = Map::new();
    head.insert("pos_txn_id".into(), json!(txn));
    head.insert("station_code".into(), json!(station));
    head.insert("occurred_at".into(), json!(at));
    let mut customer = Map::new();
    for name in ["card_no", "phone", "plate", "member_code"] {
        if let Some(v) = cell(row, index, name) {
            customer.insert(name.into(), json!(v));
        }
    }
    if !customer.is_empty() {
        head.insert("customer".into(), Value::Object(customer));
    }
    Ok((txn, station, line, payment, head))
}

/// Imports the sales of a CSV file; `progress` is called with the sales done so far.
pub async fn import_sales<R: std::io::Read>(
    state: &App,
    input: R,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ImportReport> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let index: HashMap<String, usize> = reader
        .headers()?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_string(), i))
        .collect();
    for required in [
        "pos_txn_id",
        "station_code",
        "occurred_at",
        "product_code",
        "unit_price_fen",
    ] {
        if !index.contains_key(required) {
            anyhow::bail!("the header has no column {required}");
        }
    }
    let mut report = ImportReport::default();
    let mut sales: Vec<Pending> = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let line = n + 2;
        report.rows += 1;
        if report.rows > ROWS_MAX {
            anyhow::bail!("the file has more than {ROWS_MAX} rows; split it");
        }
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                report.rejected.push(Rejected {
                    line,
                    pos_txn_id: String::new(),
                    code: "invalid_csv".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        match parse_row(&row, &index) {
            Err(message) => report.rejected.push(Rejected {
                line,
                pos_txn_id: cell(&row, &index, "pos_txn_id").unwrap_or("").to_string(),
                code: "validation_failed".into(),
                message,
            }),
            Ok((txn, station, l, payment, head)) => match sales.last_mut() {
                Some(last) if last.station == station && last.body["pos_txn_id"] == json!(txn) => {
                    last.lines.extend(l);
                    last.payments.extend(payment);
                }
                _ => sales.push(Pending {
                    first_line: line,
                    station,
                    body: head,
                    lines: l.into_iter().collect(),
                    payments: payment.into_iter().collect(),
                }),
            },
        }
    }
    // Sales are decided with the POS rules by the bulk poster and written many per
    // transaction; a sale paid (in part) by coupon goes through the POS API itself, after
    // the batch before it is written.
    let store = state.store();
    let mut poster = Poster::live(store).await?;
    let mut stations: BTreeMap<String, Option<Station>> = BTreeMap::new();
    // The import is the explicit offline path for past sales: the sales it sends through
    // the POS use case are decided on their own day, so its clock stands at each sale's
    // time (a live till's time must be within minutes of the clock).
    let clock = crate::clock::Clock::fixed(0);
    let app = state.with_clock(clock.clone());
    let total = sales.len();
    let mut batch_first_line = 0;
    // The first line of the batch being written behind.
    let mut written_from = 0;
    let mut done = 0;
    let mut queue = sales.into_iter();
    loop {
        let chunk: Vec<Pending> = queue.by_ref().take(BATCH_SALES).collect();
        if chunk.is_empty() {
            break;
        }
        let keys: Vec<(&str, &str)> = chunk
            .iter()
            .map(|s| {
                (
                    s.station.as_str(),
                    s.body["pos_txn_id"].as_str().unwrap_or(""),
                )
            })
            .collect();
        poster.prefetch_keys(&keys).await?;
        let cards: Vec<String> = chunk
            .iter()
            .flat_map(|s| {
                let shown = s
                    .body
                    .get("customer")
                    .and_then(|c| c.get("card_no"))
                    .cloned();
                s.payments
                    .iter()
                    .filter_map(|p| p.get("card_no").cloned())
                    .chain(shown)
            })
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        poster.prefetch_cards(&cards).await?;
        for sale in chunk {
            if poster.pending() == 0 {
                batch_first_line = sale.first_line;
            }
            let txn = sale.body["pos_txn_id"].as_str().unwrap_or("").to_string();
            let mut via_api = sale.payments.iter().any(|p| p["method"] == "coupon")
                || sale.body.get("coupons").is_some();
            let mut outcome = Outcome::Present;
            if !via_api {
                outcome = match bulk_sale(
                    sale.station.clone(),
                    &sale.body,
                    &sale.lines,
                    &sale.payments,
                ) {
                    Ok(input) => match poster.sale(&input).await {
                        Ok(Some(_)) => Outcome::Imported,
                        Ok(None) => Outcome::Present,
                        // Members the bulk path cannot decide (a pending referral,
                        // rules that need the member's history) go through the POS.
                        Err(e) if e.code == "unsupported" => {
                            via_api = true;
                            Outcome::Present
                        }
                        Err(e) => Outcome::Rejected(e.code.to_string(), e.message),
                    },
                    Err(e) => Outcome::Rejected(e.code.to_string(), e.message),
                };
            }
            if via_api {
                if let Some(at) = sale.body["occurred_at"]
                    .as_str()
                    .and_then(|t| crate::clock::parse_time("occurred_at", t).ok())
                {
                    clock.set(at);
                }
                flush(&mut poster, batch_first_line, sale.first_line).await?;
                poster.forget_balances();
                outcome = through_pos(
                    &app,
                    &mut stations,
                    sale.station.clone(),
                    sale.body,
                    sale.lines,
                    sale.payments,
                )
                .await?;
            }
            match outcome {
                Outcome::Imported => report.sales_imported += 1,
                Outcome::Present => report.sales_already_present += 1,
                Outcome::Rejected(code, message) => report.rejected.push(Rejected {
                    line: sale.first_line,
                    pos_txn_id: txn,
                    code,
                    message,
                }),
            }
            done += 1;
            progress(done, total);
        }
        // Written behind while the next chunk is decided; a failure is reported when the
        // next chunk is written, and stops the import there.
        poster.flush_behind().await.map_err(|e| {
            anyhow::anyhow!(
                "the sales from line {written_from} on could not be written ({e}); the sales \
                 before them were: run the import again, it continues where this one stopped"
            )
        })?;
        written_from = batch_first_line;
    }
    flush(&mut poster, written_from, usize::MAX).await?;
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

enum Outcome {
    Imported,
    Present,
    Rejected(String, String),
}

/// Writes the poster's batch; on failure nothing of the batch is written.
async fn flush(poster: &mut Poster, from_line: usize, to_line: usize) -> anyhow::Result<()> {
    poster.flush().await.map_err(|e| {
        anyhow::anyhow!(
            "the sales from line {from_line} to {} could not be written ({e}); none of them \
             was, the sales before them were: run the import again, it continues where this one stopped",
            if to_line == usize::MAX { "the end".to_string() } else { to_line.to_string() }
        )
    })?;
    Ok(())
}

fn field_i64(v: &Value, name: &str) -> Option<i64> {
    v.get(name).and_then(Value::as_i64)
}

/// The bulk poster's form of a sale of the file.
fn bulk_sale(
    station: String,
    head: &Map<String, Value>,
    lines: &[Value],
    payments: &[Value],
) -> Result<SaleIn, AppError> {
    let at = crate::clock::parse_time(
        "occurred_at",
        head.get("occurred_at")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )?;
    let who = head.get("customer").and_then(|c| {
        let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
        s("card_no")
            .map(Who::Card)
            .or_else(|| s("phone").map(Who::Phone))
            .or_else(|| s("plate").map(Who::Plate))
            .or_else(|| s("member_code").map(Who::Member))
    });
    Ok(SaleIn {
        station_code: station,
        pos_txn_id: head
            .get("pos_txn_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        occurred_at: at,
        plate: match &who {
            Some(Who::Plate(p)) => Some(p.clone()),
            _ => None,
        },
        who,
        lines: lines
            .iter()
            .map(|l| LineIn {
                product_code: l["product_code"].as_str().unwrap_or("").to_string(),
                volume_ml: field_i64(l, "volume_ml"),
                quantity: field_i64(l, "quantity"),
                unit_price_fen: field_i64(l, "unit_price_fen").unwrap_or(0),
                amount_fen: field_i64(l, "amount_fen"),
                pump_no: field_i64(l, "pump_no"),
            })
            .collect(),
        payments: payments
            .iter()
            .map(|p| PayIn {
                method: p["method"].as_str().unwrap_or("").to_string(),
                amount_fen: field_i64(p, "amount_fen"),
                card_no: p.get("card_no").and_then(Value::as_str).map(str::to_string),
            })
            .collect(),
    })
}

/// Posts one sale through the POS sale use case as its station's till.
async fn through_pos(
    app: &App,
    stations: &mut BTreeMap<String, Option<Station>>,
    station: String,
    mut body: Map<String, Value>,
    lines: Vec<Value>,
    payments: Vec<Value>,
) -> anyhow::Result<Outcome> {
    if !stations.contains_key(&station) {
        let found = app.store().station_by_code(&station).await?;
        stations.insert(station.clone(), found);
    }
    let Some(till) = stations[&station].clone() else {
        return Ok(Outcome::Rejected(
            "unknown_station".into(),
            format!("no station {station}"),
        ));
    };
    body.insert("lines".into(), Value::Array(lines));
    body.insert("payments".into(), Value::Array(payments));
    Ok(
        match crate::pos::sale(app, till, Value::Object(body)).await {
            Ok(answer) if answer.status == 201 => Outcome::Imported,
            Ok(_) => Outcome::Present,
            Err(e) if e.code == "internal" || e.code == "database_unavailable" => {
                anyhow::bail!("{e}")
            }
            Err(e) => Outcome::Rejected(e.code.to_string(), e.message),
        },
    )
}

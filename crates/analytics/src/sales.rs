//! Sales rows with everything the reports need (station, region, product, payment, time
//! of day), read from CSV in one of two layouts, and turned into [`Transactions`] for
//! the per-customer methods.
//!
//! The **plain layout** has a header with these columns, in any order, others ignored:
//!
//! | column | required | meaning |
//! | --- | --- | --- |
//! | `time` | yes | local time, `YYYY-MM-DD HH:MM[:SS]` (or with `T`), or RFC 3339 (its local time) |
//! | `station` | yes | station code |
//! | `product` | yes | product code, e.g. `GASOLINE_92` |
//! | `net_fen` | yes | the amount paid, in fen (a refund negative) |
//! | `region` | no | region code |
//! | `kind` | no | `fuel`, `goods`, `service`…; by default `fuel` when the volume is above 0, else `goods` |
//! | `payment` | no | payment method |
//! | `customer` | no | customer id; empty for a walk-in |
//! | `volume_ml` | no | millilitres of fuel (0 when absent) |
//! | `discount_fen` | no | the discount granted, in fen (0 when absent) |
//!
//! The **Forecourt export layout** is what `forecourt export sales` writes (columns
//! `pos_txn_id`, `station_code`, `occurred_at`, …; see `docs/import.md`) and is told
//! apart by its `pos_txn_id` column. Each line item becomes a row: the customer is the
//! card number or else the member code, the amount is `amount_fen`, the payment method
//! is the sale's first payment, the discount is what coupons paid (put on the sale's
//! first line), the region is the station code without its trailing digits (the
//! simulator names stations `BJ001`, …), and the kind is `fuel` with a volume, `goods`
//! otherwise. Rows that carry only a payment add no line.

use crate::error::InputError;
use crate::transactions::{day_of, Day, Transactions};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::io::Read;
use std::path::Path;

/// One line of a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    /// Local time at the station.
    pub time: NaiveDateTime,
    pub station: String,
    pub region: Option<String>,
    pub product: String,
    /// `fuel`, `goods`, `service`, …
    pub kind: String,
    /// Payment method; empty when unknown.
    pub payment: String,
    /// None for a walk-in.
    pub customer: Option<String>,
    /// What was paid, in fen.
    pub net_fen: i64,
    pub volume_ml: i64,
    pub discount_fen: i64,
}

impl SaleRow {
    pub fn day(&self) -> Day {
        day_of(self.time.date())
    }

    pub fn hour(&self) -> u32 {
        self.time.hour()
    }

    pub fn is_fuel(&self) -> bool {
        self.volume_ml > 0
    }
}

/// Reads sales from a CSV file in either layout (see the module documentation).
pub fn read_sales_path(path: &Path) -> Result<Vec<SaleRow>, InputError> {
    let data = std::fs::read(path).map_err(|source| InputError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_sales(&data[..])
}

/// Reads sales from CSV text in either layout.
pub fn read_sales<R: Read>(input: R) -> Result<Vec<SaleRow>, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(e, 1))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
        .collect();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(InputError::NoHeader);
    }
    let rows = if header.iter().any(|h| h == "pos_txn_id") {
        read_export(&mut reader, &header)?
    } else {
        read_plain(&mut reader, &header)?
    };
    if rows.is_empty() {
        return Err(InputError::NoRows { line: 1 });
    }
    Ok(rows)
}

fn malformed(e: csv::Error, line: u64) -> InputError {
    InputError::Malformed {
        line: e.position().map_or(line, |p| p.line()),
        message: e.to_string(),
    }
}

/// The header's columns by name.
struct Header<'a> {
    names: &'a [String],
}

impl Header<'_> {
    fn optional(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|h| h == name)
    }

    fn required(&self, name: &str) -> Result<usize, InputError> {
        self.optional(name)
            .ok_or_else(|| InputError::MissingColumn {
                column: name.to_owned(),
                header: self
                    .names
                    .iter()
                    .map(|h| format!("{h:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// One record with its line number, for reading fields with messages that name both.
struct Record<'a> {
    record: &'a csv::StringRecord,
    line: u64,
    header: &'a [String],
}

impl Record<'_> {
    fn text(&self, i: usize) -> &str {
        self.record.get(i).map_or("", str::trim)
    }

    fn opt_text(&self, i: Option<usize>) -> Option<&str> {
        i.map(|i| self.text(i)).filter(|t| !t.is_empty())
    }

    fn integer(&self, i: usize) -> Result<i64, InputError> {
        let v = self.text(i);
        v.parse::<i64>().map_err(|_| InputError::BadNumber {
            line: self.line,
            column: self.header[i].clone(),
            value: v.to_owned(),
        })
    }

    /// An integer, 0 when the column is absent or the cell empty.
    fn integer_or_zero(&self, i: Option<usize>) -> Result<i64, InputError> {
        match i {
            Some(i) if !self.text(i).is_empty() => self.integer(i),
            _ => Ok(0),
        }
    }

    fn time(&self, i: usize) -> Result<NaiveDateTime, InputError> {
        let v = self.text(i);
        parse_local_time(v).ok_or_else(|| InputError::BadTime {
            line: self.line,
            column: self.header[i].clone(),
            value: v.to_owned(),
        })
    }

    fn required_text(&self, i: usize) -> Result<String, InputError> {
        let v = self.text(i);
        if v.is_empty() {
            return Err(InputError::Malformed {
                line: self.line,
                message: format!("column {:?} is empty", self.header[i]),
            });
        }
        Ok(v.to_owned())
    }
}

/// Iterates over the records, checking each has as many fields as the header.
fn for_each_record<R: Read>(
    reader: &mut csv::Reader<R>,
    header: &[String],
    mut f: impl FnMut(&Record) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let mut record = csv::StringRecord::new();
    let mut last_line = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(malformed(e, last_line + 1)),
        }
        let line = record.position().map_or(last_line + 1, |p| p.line());
        last_line = line;
        if record.len() != header.len() {
            return Err(InputError::Malformed {
                line,
                message: format!(
                    "{} fields where the header has {}",
                    record.len(),
                    header.len()
                ),
            });
        }
        f(&Record {
            record: &record,
            line,
            header,
        })?;
    }
}

fn default_kind(volume_ml: i64) -> &'static str {
    if volume_ml > 0 {
        "fuel"
    } else {
        "goods"
    }
}

fn read_plain<R: Read>(
    reader: &mut csv::Reader<R>,
    names: &[String],
) -> Result<Vec<SaleRow>, InputError> {
    let h = Header { names };
    let time = h.required("time")?;
    let station = h.required("station")?;
    let product = h.required("product")?;
    let net = h.required("net_fen")?;
    let region = h.optional("region");
    let kind = h.optional("kind");
    let payment = h.optional("payment");
    let customer = h.optional("customer");
    let volume = h.optional("volume_ml");
    let discount = h.optional("discount_fen");
    let mut rows = Vec::new();
    for_each_record(reader, names, |r| {
        let volume_ml = r.integer_or_zero(volume)?;
        rows.push(SaleRow {
            time: r.time(time)?,
            station: r.required_text(station)?,
            region: r.opt_text(region).map(str::to_owned),
            product: r.required_text(product)?,
            kind: r
                .opt_text(kind)
                .unwrap_or(default_kind(volume_ml))
                .to_owned(),
            payment: r.opt_text(payment).unwrap_or_default().to_owned(),
            customer: r.opt_text(customer).map(str::to_owned),
            net_fen: r.integer(net)?,
            volume_ml,
            discount_fen: r.integer_or_zero(discount)?,
        });
        Ok(())
    })?;
    Ok(rows)
}

/// The region of a station code: the code without its trailing digits (`BJ001` → `BJ`);
/// None when nothing is left.
pub fn region_of_station(code: &str) -> Option<String> {
    let region = code.trim_end_matches(|c: char| c.is_ascii_digit());
    (!region.is_empty() && region.len() < code.len()).then(|| region.to_owned())
}

fn read_export<R: Read>(
    reader: &mut csv::Reader<R>,
    names: &[String],
) -> Result<Vec<SaleRow>, InputError> {
    let h = Header { names };
    let txn = h.required("pos_txn_id")?;
    let station = h.required("station_code")?;
    let time = h.required("occurred_at")?;
    let product = h.required("product_code")?;
    let amount = h.required("amount_fen")?;
    let card = h.optional("card_no");
    let member = h.optional("member_code");
    let volume = h.optional("volume_ml");
    let method = h.optional("payment_method");
    let paid = h.optional("payment_amount_fen");
    let mut rows: Vec<SaleRow> = Vec::new();
    // The sale being read: (station, pos_txn_id), the index of its first line, and
    // whether its first payment has been seen.
    let mut current: Option<(String, String, usize, bool)> = None;
    for_each_record(reader, names, |r| {
        let key = (r.text(station).to_owned(), r.text(txn).to_owned());
        let same = current
            .as_ref()
            .is_some_and(|(s, t, _, _)| *s == key.0 && *t == key.1);
        let has_line = !r.text(product).is_empty();
        if !same {
            if !has_line {
                return Err(InputError::Malformed {
                    line: r.line,
                    message: "a row with only a payment must follow a row of the same sale".into(),
                });
            }
            current = Some((key.0.clone(), key.1.clone(), rows.len(), false));
        }
        let (_, _, first_line, paid_seen) = current.as_mut().expect("set above");
        if has_line {
            let volume_ml = r.integer_or_zero(volume)?;
            rows.push(SaleRow {
                time: r.time(time)?,
                station: r.required_text(station)?,
                region: region_of_station(r.text(station)),
                product: r.text(product).to_owned(),
                kind: default_kind(volume_ml).to_owned(),
                payment: String::new(),
                customer: r
                    .opt_text(card)
                    .or_else(|| r.opt_text(member))
                    .map(str::to_owned),
                net_fen: r.integer(amount)?,
                volume_ml,
                discount_fen: 0,
            });
        }
        if let Some(m) = r.opt_text(method) {
            let m = m.to_owned();
            let sale = &mut rows[*first_line..];
            if !*paid_seen {
                *paid_seen = true;
                for line in sale.iter_mut() {
                    line.payment = m.clone();
                }
            }
            if m == "coupon" {
                let fen = r.integer_or_zero(paid)?;
                sale[0].discount_fen += fen;
                sale[0].net_fen -= fen;
            }
        } else if *paid_seen && has_line {
            // A later line of a sale whose payment came on an earlier row.
            let m = rows[*first_line].payment.clone();
            rows.last_mut().expect("pushed above").payment = m;
        }
        Ok(())
    })?;
    Ok(rows)
}

/// A local time: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.f]]` (also with `T`), or RFC 3339
/// with an offset, taken as the local time it was written in.
pub fn parse_local_time(s: &str) -> Option<NaiveDateTime> {
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.naive_local())
}

/// The members' purchases as [`Transactions`] (amounts in yuan, volumes in litres), for
/// the per-customer methods: the lines of one sale (same customer, station and time)
/// make one purchase; walk-in rows are left out and counted in `skipped_rows`.
pub fn to_transactions(rows: &[SaleRow]) -> Transactions {
    let mut tx = Transactions::new(true);
    let mut last: Option<(&str, &str, NaiveDateTime)> = None;
    for r in rows {
        let Some(customer) = r.customer.as_deref() else {
            tx.skipped_rows += 1;
            continue;
        };
        let key = (customer, r.station.as_str(), r.time);
        let amount = r.net_fen as f64 / 100.0;
        let litres = r.volume_ml as f64 / 1000.0;
        if last == Some(key) {
            let i = tx.len() - 1;
            tx.amount[i] += amount;
            if let Some(v) = &mut tx.volume {
                v[i] += litres;
            }
        } else {
            tx.push(customer, r.day(), amount, Some(litres));
            last = Some(key);
        }
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        parse_local_time(s).unwrap()
    }

    #[test]
    fn reads_the_plain_layout_with_defaults() {
        let text = "station,time,product,net_fen,customer,volume_ml,payment\n\
                    S1,2024-03-01 08:15:00,GASOLINE_92,30000,c1,40000,card\n\
                    S1,2024-03-01T09:00,WATER,300,,,cash\n";
        let rows = read_sales(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].time, at("2024-03-01 08:15:00"));
        assert_eq!(rows[0].kind, "fuel");
        assert_eq!(rows[0].customer.as_deref(), Some("c1"));
        assert_eq!(rows[0].hour(), 8);
        assert_eq!(rows[1].kind, "goods");
        assert_eq!(rows[1].customer, None);
        assert_eq!(rows[1].volume_ml, 0);
        assert_eq!(rows[1].discount_fen, 0);
        assert_eq!(rows[1].region, None);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = read_sales("station,time,net_fen\nS1,2024-01-01,5\n".as_bytes()).unwrap_err();
        assert!(
            matches!(&e, InputError::MissingColumn { column, .. } if column == "product"),
            "{e}"
        );
        let text = "station,time,product,net_fen\nS1,2024-01-01,P,5\nS1,2024-01-02,P,five\n";
        let e = read_sales(text.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3, column \"net_fen\": cannot read \"five\" as a number"
        );
        let text = "station,time,product,net_fen\nS1,yesterday,P,5\n";
        let e = read_sales(text.as_bytes()).unwrap_err();
        assert!(matches!(&e, InputError::BadTime { line: 2, .. }), "{e}");
        let text = "station,time,product,net_fen\nS1,2024-01-01,P\n";
        let e = read_sales(text.as_bytes()).unwrap_err();
        assert!(matches!(&e, InputError::Malformed { line: 2, .. }), "{e}");
        let text = "station,time,product,net_fen\n,2024-01-01,P,4\n";
        let e = read_sales(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("\"station\" is empty"), "{e}");
        let e = read_sales("station,time,product,net_fen\n".as_bytes()).unwrap_err();
        assert!(matches!(e, InputError::NoRows { .. }), "{e}");
    }

    #[test]
    fn reads_the_forecourt_export_layout() {
        let text = "pos_txn_id,station_code,occurred_at,card_no,member_code,product_code,volume_ml,quantity,unit_price_fen,amount_fen,payment_method,payment_amount_fen,payment_card_no,payment_coupon_code\n\
            E1,BJ001,2026-11-20T08:30:00+08:00,1000,,GASOLINE_92,10000,,700,7000,card,4000,1000,\n\
            E1,BJ001,2026-11-20T08:30:00+08:00,1000,,WATER,,1,300,300,,,,\n\
            E1,BJ001,2026-11-20T08:30:00+08:00,1000,,,,,,,coupon,500,,C1\n\
            E1,BJ001,2026-11-20T08:30:00+08:00,1000,,,,,,,cash,2800,,\n\
            E2,SH002,2026-11-20T23:59:00+08:00,,8100000001,DIESEL_0,5000,,650,3250,wechat,3250,,\n\
            E3,SH002,2026-11-21T00:10:00+08:00,,,CAR_WASH,,1,2500,2500,cash,2500,,\n";
        let rows = read_sales(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 4);
        let fuel = &rows[0];
        assert_eq!(fuel.time, at("2026-11-20 08:30:00"));
        assert_eq!(fuel.region.as_deref(), Some("BJ"));
        assert_eq!(fuel.customer.as_deref(), Some("1000"));
        assert_eq!(fuel.payment, "card");
        assert_eq!((fuel.net_fen, fuel.discount_fen), (6500, 500));
        assert_eq!(fuel.kind, "fuel");
        assert_eq!(rows[1].payment, "card");
        assert_eq!(rows[1].kind, "goods");
        assert_eq!(rows[2].customer.as_deref(), Some("8100000001"));
        assert_eq!(rows[2].payment, "wechat");
        assert_eq!(rows[2].day() + 1, rows[3].day());
        assert_eq!(rows[3].customer, None);

        let orphan = "pos_txn_id,station_code,occurred_at,product_code,amount_fen,payment_method\n\
                      E1,S1,2026-11-20T08:30:00+08:00,,,cash\n";
        let e = read_sales(orphan.as_bytes()).unwrap_err();
        assert!(matches!(&e, InputError::Malformed { line: 2, .. }), "{e}");
    }

    #[test]
    fn transactions_merge_the_lines_of_a_sale_and_skip_walk_ins() {
        let text = "station,time,product,net_fen,customer,volume_ml\n\
                    S1,2024-03-01 08:15,GASOLINE_92,30000,c1,40000\n\
                    S1,2024-03-01 08:15,WATER,300,c1,\n\
                    S1,2024-03-01 18:00,GASOLINE_92,1000,c1,1500\n\
                    S2,2024-03-02 08:00,GASOLINE_92,1000,,1500\n";
        let tx = to_transactions(&read_sales(text.as_bytes()).unwrap());
        assert_eq!(tx.len(), 2);
        assert_eq!(tx.amount, vec![303.0, 10.0]);
        assert_eq!(tx.volume.as_deref(), Some(&[40.0, 1.5][..]));
        assert_eq!(tx.skipped_rows, 1);
    }

    #[test]
    fn station_codes_give_regions() {
        assert_eq!(region_of_station("BJ001").as_deref(), Some("BJ"));
        assert_eq!(region_of_station("S1").as_deref(), Some("S"));
        assert_eq!(region_of_station("MAIN"), None);
        assert_eq!(region_of_station("001"), None);
    }
}

//! Transactions in columns, and reading them from (or writing them to) CSV.
//!
//! The methods in this crate only need, for each purchase, who bought, on which calendar
//! day, for how much and optionally how many litres. A time of day is read and checked
//! but not kept: Fader, Hardie & Lee count the purchases of one day once, and the refuel
//! cycle is measured in days. A time with a UTC offset (RFC 3339) counts on the local
//! date it was written in, which is the station's business day.
//!
//! Any source can fill [`Transactions`] through [`Transactions::push`]: the CSV reader
//! here, a database query, a generator.

use crate::error::InputError;
use chrono::{Datelike, NaiveDate};
use std::io::{Read, Write};
use std::path::Path;

/// Days from 0001-01-01 (CE day 1) to 1970-01-01, to turn chrono's day count into ours.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// A calendar day as days since 1970-01-01.
pub type Day = i32;

/// The day number of a date.
pub fn day_of(date: NaiveDate) -> Day {
    date.num_days_from_ce() - UNIX_EPOCH_CE_DAYS
}

/// The date of a day number.
pub fn date_of(day: Day) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + UNIX_EPOCH_CE_DAYS).unwrap_or(NaiveDate::MIN)
}

/// Purchases as parallel columns, customers numbered in order of first appearance.
#[derive(Debug, Clone, Default)]
pub struct Transactions {
    names: Names,
    /// The customer number of each purchase.
    pub customer: Vec<u32>,
    /// The day of each purchase.
    pub day: Vec<Day>,
    /// The amount of each purchase (a refund is negative).
    pub amount: Vec<f64>,
    /// Litres (or any volume) of each purchase, when the source has them.
    pub volume: Option<Vec<f64>>,
    /// Rows of the source left out (without a customer, when asked to skip them).
    pub skipped_rows: u64,
}

impl Transactions {
    pub fn new(with_volume: bool) -> Self {
        Transactions {
            volume: with_volume.then(Vec::new),
            ..Default::default()
        }
    }

    /// The number of a customer, registering the id when new.
    pub fn customer_number(&mut self, id: &str) -> u32 {
        self.names.intern(id)
    }

    /// Registers a customer who may have no purchase (a member who never bought).
    pub fn add_customer(&mut self, id: &str) -> u32 {
        self.customer_number(id)
    }

    /// Appends a purchase. `volume` is ignored when these transactions have no volume
    /// column, and counts as 0 when missing from a source that has one.
    pub fn push(&mut self, customer: &str, day: Day, amount: f64, volume: Option<f64>) {
        let n = self.customer_number(customer);
        self.push_numbered(n, day, amount, volume);
    }

    /// Appends a purchase of an already numbered customer.
    pub fn push_numbered(&mut self, customer: u32, day: Day, amount: f64, volume: Option<f64>) {
        debug_assert!((customer as usize) < self.names.len());
        self.customer.push(customer);
        self.day.push(day);
        self.amount.push(amount);
        if let Some(v) = &mut self.volume {
            v.push(volume.unwrap_or(0.0));
        }
    }

    /// Purchases.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }

    /// Customers known, with or without purchases.
    pub fn customers(&self) -> usize {
        self.names.len()
    }

    /// The id of a customer number.
    pub fn name(&self, customer: u32) -> &str {
        self.names.get(customer)
    }

    /// Every customer id, in number order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        (0..self.names.len() as u32).map(|c| self.names.get(c))
    }

    /// The same transactions in day order (a stable sort: one day's rows keep their
    /// order), as a till's export would list them. Customer numbers do not change.
    pub fn sorted_by_day(&self) -> Transactions {
        let Some((first, last)) = self.day_range() else {
            return self.clone();
        };
        // A counting sort over the days.
        let mut starts = vec![0usize; (last - first) as usize + 2];
        for &d in &self.day {
            starts[(d - first) as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut order = vec![0usize; self.len()];
        for (i, &d) in self.day.iter().enumerate() {
            let slot = &mut starts[(d - first) as usize];
            order[*slot] = i;
            *slot += 1;
        }
        Transactions {
            names: self.names.clone(),
            customer: order.iter().map(|&i| self.customer[i]).collect(),
            day: order.iter().map(|&i| self.day[i]).collect(),
            amount: order.iter().map(|&i| self.amount[i]).collect(),
            volume: self
                .volume
                .as_ref()
                .map(|v| order.iter().map(|&i| v[i]).collect()),
            skipped_rows: self.skipped_rows,
        }
    }

    /// The first and last day with a purchase.
    pub fn day_range(&self) -> Option<(Day, Day)> {
        let first = *self.day.iter().min()?;
        let last = *self.day.iter().max()?;
        Some((first, last))
    }
}

/// Customer ids numbered in order of first appearance: the text of all of them in one
/// buffer and an open-addressing table of numbers, so that a million customers cost
/// three allocations rather than two million (and a file of them reads several times
/// faster than with a map of strings).
#[derive(Debug, Clone, Default)]
struct Names {
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<usize>,
    hashes: Vec<u64>,
    /// By hash, a power of two long and at most half full. A probe reads one slot and,
    /// when the hashes agree, the id's text straight from where the slot says it is: two
    /// cache misses for an id seen before, however the file is ordered.
    slots: Vec<Slot>,
    /// The last id looked up (number, start, length): files grouped by customer find it
    /// without hashing.
    last: Option<(u32, usize, usize)>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The upper half of the hash and the customer number; `EMPTY` where free.
    key: u64,
    /// Where the id starts in the text (upper 40 bits) and its length (lower 24 bits,
    /// `LONG` for ids that long or longer, which are found through `ends`).
    at: u64,
}

const EMPTY: Slot = Slot {
    key: u64::MAX,
    at: 0,
};
const LONG: u64 = (1 << 24) - 1;

impl Slot {
    fn new(hash: u64, n: u32, start: usize, len: usize) -> Slot {
        Slot {
            key: ((hash >> 32) << 32) | u64::from(n),
            at: ((start as u64) << 24) | (len as u64).min(LONG),
        }
    }
}

impl Names {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, n: u32) -> &str {
        let n = n as usize;
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.text[start..self.ends[n]]
    }

    fn intern(&mut self, id: &str) -> u32 {
        self.intern_hashed(id, None)
    }

    /// `hash` is the id's [`hash_id`] when already known.
    fn intern_hashed(&mut self, id: &str, hash: Option<u64>) -> u32 {
        if let Some((n, start, len)) = self.last {
            if len == id.len() && &self.text.as_bytes()[start..start + len] == id.as_bytes() {
                return n;
            }
        }
        if self.slots.len() < 2 * (self.len() + 1) {
            self.grow();
        }
        let hash = hash.unwrap_or_else(|| hash_id(id.as_bytes()));
        let tag = hash >> 32;
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot.key == EMPTY.key {
                let n = self.len() as u32;
                self.slots[i] = Slot::new(hash, n, self.text.len(), id.len());
                self.last = Some((n, self.text.len(), id.len()));
                self.text.push_str(id);
                self.ends.push(self.text.len());
                self.hashes.push(hash);
                return n;
            }
            let n = slot.key as u32;
            if slot.key >> 32 == tag {
                let (start, len) = ((slot.at >> 24) as usize, slot.at & LONG);
                let same = if len == LONG {
                    self.get(n) == id
                } else {
                    len as usize == id.len()
                        && &self.text.as_bytes()[start..start + id.len()] == id.as_bytes()
                };
                if same {
                    self.last = Some((n, start, id.len()));
                    return n;
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Numbers many ids at once, as [`Names::intern`] one after the other would, but
    /// first reads every id's slot and then the text it points to, so that the cache
    /// misses of a few hundred lookups overlap instead of following one another (rows in
    /// date order meet their customers at random).
    fn intern_many(&mut self, ids: &[&str], out: &mut Vec<u32>) {
        while self.slots.len() < 2 * (self.len() + ids.len() + 1) {
            self.grow();
        }
        let hashes: Vec<u64> = ids.iter().map(|id| hash_id(id.as_bytes())).collect();
        let mask = self.slots.len() - 1;
        let mut touched = 0u64;
        for &hash in &hashes {
            touched ^= self.slots[hash as usize & mask].key;
        }
        let text = self.text.as_bytes();
        for &hash in &hashes {
            let slot = self.slots[hash as usize & mask];
            if slot.key != EMPTY.key && slot.key >> 32 == hash >> 32 {
                if let Some(&byte) = text.get((slot.at >> 24) as usize) {
                    touched ^= u64::from(byte);
                }
            }
        }
        std::hint::black_box(touched);
        out.clear();
        for (id, &hash) in ids.iter().zip(&hashes) {
            out.push(self.intern_hashed(id, Some(hash)));
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(1024);
        self.slots = vec![EMPTY; size];
        let mask = size - 1;
        for (n, &hash) in self.hashes.iter().enumerate() {
            let mut i = hash as usize & mask;
            while self.slots[i].key != EMPTY.key {
                i = (i + 1) & mask;
            }
            let start = if n == 0 { 0 } else { self.ends[n - 1] };
            self.slots[i] = Slot::new(hash, n as u32, start, self.ends[n] - start);
        }
    }
}

/// A fast hash of an id (ids are not chosen by an adversary who could make them collide:
/// the worst they could do is slow a read of their own file down).
fn hash_id(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    // Mix the high bits into the low ones, which pick the slot.
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^ (h >> 32)
}

/// Which columns of a CSV file hold what.
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    pub customer: String,
    pub time: String,
    pub amount: String,
    pub volume: Option<String>,
    /// Skip rows without a customer id (anonymous walk-in sales) instead of refusing
    /// them; they are counted in [`Transactions::skipped_rows`].
    pub skip_empty_customer: bool,
}

/// Reads transactions from a CSV file with a header line (see [`read_csv`]). The file
/// is read whole first: faster than reading it through a buffer, and the transactions
/// take more memory than the text anyway.
pub fn read_csv_path(path: &Path, columns: &CsvColumns) -> Result<Transactions, InputError> {
    let data = std::fs::read(path).map_err(|source| InputError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_csv(&data[..], columns)
}

/// Reads transactions from CSV text with a header line. A row whose time and amount are
/// both empty registers its customer without a purchase (a member who never bought).
pub fn read_csv<R: Read>(input: R, columns: &CsvColumns) -> Result<Transactions, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader.byte_headers().map_err(|e| csv_error(e, 1))?.clone();
    let index = ColumnIndex::from_record(&header, columns)?;
    let mut tx = Transactions::new(index.volume.is_some());
    let rows = read_rows(&mut reader, &index, &mut tx)?;
    if rows == 0 {
        return Err(InputError::NoRows { line: 1 });
    }
    Ok(tx)
}

/// Where the columns are in the header, and their names for messages.
struct ColumnIndex<'a> {
    fields: usize,
    customer: usize,
    time: usize,
    amount: usize,
    volume: Option<usize>,
    names: &'a CsvColumns,
}

impl<'a> ColumnIndex<'a> {
    fn from_record(header: &csv::ByteRecord, columns: &'a CsvColumns) -> Result<Self, InputError> {
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(InputError::NoHeader);
        }
        let header_names: Vec<String> = header
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_owned()
            })
            .collect();
        let find = |name: &str| {
            header_names
                .iter()
                .position(|h| h == name.trim())
                .ok_or_else(|| InputError::MissingColumn {
                    column: name.to_owned(),
                    header: header_names
                        .iter()
                        .map(|h| format!("{h:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        };
        Ok(ColumnIndex {
            fields: header.len(),
            customer: find(&columns.customer)?,
            time: find(&columns.time)?,
            amount: find(&columns.amount)?,
            volume: columns.volume.as_deref().map(find).transpose()?,
            names: columns,
        })
    }
}

/// Reads the data rows of `reader` into `tx`. Returns the number of rows.
fn read_rows<R: Read>(
    reader: &mut csv::Reader<R>,
    index: &ColumnIndex,
    tx: &mut Transactions,
) -> Result<u64, InputError> {
    let columns = index.names;
    let mut record = csv::ByteRecord::new();
    let mut batch = Batch::default();
    let mut rows = 0u64;
    let mut last_line = 1;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e, last_line + 1)),
        }
        let line = record.position().map_or(last_line + 1, |p| p.line());
        last_line = line;
        rows += 1;
        if record.len() != index.fields {
            return Err(InputError::Malformed {
                line,
                message: format!(
                    "{} fields where the header has {}",
                    record.len(),
                    index.fields
                ),
            });
        }
        let field = |i: usize, name: &str| -> Result<&str, InputError> {
            std::str::from_utf8(&record[i])
                .map(str::trim)
                .map_err(|_| InputError::Malformed {
                    line,
                    message: format!("column {name:?} is not valid UTF-8"),
                })
        };
        let customer = field(index.customer, &columns.customer)?;
        if customer.is_empty() && columns.skip_empty_customer {
            tx.skipped_rows += 1;
            continue;
        }
        if customer.is_empty() {
            return Err(InputError::EmptyCustomer {
                line,
                column: columns.customer.clone(),
            });
        }
        let time = field(index.time, &columns.time)?;
        let amount = field(index.amount, &columns.amount)?;
        if time.is_empty() && amount.is_empty() {
            batch.add(customer, None);
            if batch.is_full() {
                batch.flush(tx);
            }
            continue;
        }
        let day = parse_day(time).ok_or_else(|| InputError::BadTime {
            line,
            column: columns.time.clone(),
            value: time.to_owned(),
        })?;
        let amount = parse_number(amount).ok_or_else(|| InputError::BadNumber {
            line,
            column: columns.amount.clone(),
            value: amount.to_owned(),
        })?;
        let volume = match (index.volume, &columns.volume) {
            (Some(i), Some(name)) => {
                let v = field(i, name)?;
                Some(parse_number(v).ok_or_else(|| InputError::BadNumber {
                    line,
                    column: name.clone(),
                    value: v.to_owned(),
                })?)
            }
            _ => None,
        };
        batch.add(customer, Some((day, amount, volume)));
        if batch.is_full() {
            batch.flush(tx);
        }
    }
    batch.flush(tx);
    Ok(rows)
}

/// Rows read but not yet added, so that their customers are numbered together
/// ([`Names::intern_many`]).
#[derive(Default)]
struct Batch {
    ids: String,
    ends: Vec<usize>,
    /// Day, amount and volume of a purchase; None for a customer without one.
    rows: Vec<Option<(Day, f64, Option<f64>)>>,
    numbers: Vec<u32>,
}

impl Batch {
    const ROWS: usize = 512;

    fn add(&mut self, customer: &str, purchase: Option<(Day, f64, Option<f64>)>) {
        self.ids.push_str(customer);
        self.ends.push(self.ids.len());
        self.rows.push(purchase);
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= Self::ROWS
    }

    fn flush(&mut self, tx: &mut Transactions) {
        let mut start = 0;
        let ids: Vec<&str> = self
            .ends
            .iter()
            .map(|&end| {
                let id = &self.ids[start..end];
                start = end;
                id
            })
            .collect();
        tx.names.intern_many(&ids, &mut self.numbers);
        for (&n, row) in self.numbers.iter().zip(&self.rows) {
            if let Some((day, amount, volume)) = *row {
                tx.push_numbered(n, day, amount, volume);
            }
        }
        self.ids.clear();
        self.ends.clear();
        self.rows.clear();
    }
}

/// A CSV syntax or read error at its line.
fn csv_error(e: csv::Error, line_guess: u64) -> InputError {
    let line = e.position().map_or(line_guess, |p| p.line());
    InputError::Malformed {
        line,
        message: e.to_string(),
    }
}

/// A finite number; thousands separators and currency signs are not accepted.
fn parse_number(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// The calendar day of `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.fff]` (also with `T`) or an
/// RFC 3339 time with an offset (its local date).
pub fn parse_day(s: &str) -> Option<Day> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let day = fast_date(&b[..10])?;
    if b.len() == 10 {
        return Some(day);
    }
    if b[10] != b' ' && b[10] != b'T' && b[10] != b't' {
        return None;
    }
    let rest = &s[11..];
    // A naive time, then an optional offset; chrono checks the ranges.
    if chrono::NaiveTime::parse_from_str(rest, "%H:%M:%S%.f").is_ok()
        || chrono::NaiveTime::parse_from_str(rest, "%H:%M").is_ok()
    {
        return Some(day);
    }
    let with_offset = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(day_of(with_offset.naive_local().date()))
}

/// `YYYY-MM-DD` without chrono's general parser: the hot path of big files.
fn fast_date(b: &[u8]) -> Option<Day> {
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: &[u8]| -> Option<u32> {
        r.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = digits(&b[..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    NaiveDate::from_ymd_opt(year as i32, month, day).map(day_of)
}

/// Writes transactions as CSV with the columns `customer,date,amount[,volume]`, amounts
/// with two decimals.
pub fn write_csv<W: Write>(tx: &Transactions, out: W) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    match &tx.volume {
        Some(_) => writeln!(w, "customer,date,amount,volume")?,
        None => writeln!(w, "customer,date,amount")?,
    }
    let mut last_day = Day::MIN;
    let mut date_text = String::new();
    for i in 0..tx.len() {
        if tx.day[i] != last_day {
            last_day = tx.day[i];
            date_text = date_of(last_day).format("%Y-%m-%d").to_string();
        }
        let name = tx.name(tx.customer[i]);
        write_field(&mut w, name)?;
        write!(w, ",{date_text},{:.2}", tx.amount[i])?;
        if let Some(v) = &tx.volume {
            write!(w, ",{:.2}", v[i])?;
        }
        writeln!(w)?;
    }
    // Customers without a purchase, as rows with an empty date and amount.
    let mut bought = vec![false; tx.customers()];
    for &c in &tx.customer {
        bought[c as usize] = true;
    }
    for (c, _) in bought.iter().enumerate().filter(|(_, b)| !**b) {
        write_field(&mut w, tx.name(c as u32))?;
        writeln!(w, ",,{}", if tx.volume.is_some() { "," } else { "" })?;
    }
    w.flush()
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub fn write_field<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(w, "\"{}\"", s.replace('"', "\"\""))
    } else {
        w.write_all(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(volume: bool) -> CsvColumns {
        CsvColumns {
            customer: "cust".into(),
            time: "when".into(),
            amount: "amt".into(),
            volume: volume.then(|| "litres".into()),
            skip_empty_customer: false,
        }
    }

    fn read(text: &str, volume: bool) -> Result<Transactions, InputError> {
        read_csv(text.as_bytes(), &columns(volume))
    }

    #[test]
    fn reads_dates_datetimes_and_rfc3339_in_any_column_order() {
        let tx = read(
            "amt,litres,when,cust\n\
             10.5,3,2024-01-02,a\n\
             7,2.5,2024-01-02 23:59:59,b\n\
             1.25,1,2024-01-03T08:00:00,a\n\
             3,1,2024-01-04T01:30:00+08:00,\"c, d\"\n\
             4,0,2024-01-04T23:30:00.5Z,a\n",
            true,
        )
        .unwrap();
        assert_eq!(tx.len(), 5);
        assert_eq!(tx.customers(), 3);
        assert_eq!(tx.names().collect::<Vec<_>>(), ["a", "b", "c, d"]);
        assert_eq!(tx.customer, [0, 1, 0, 2, 0]);
        let d = |s: &str| day_of(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        // The offset's local date counts: 01:30 at +08:00 is still the 4th there.
        assert_eq!(
            tx.day,
            [
                d("2024-01-02"),
                d("2024-01-02"),
                d("2024-01-03"),
                d("2024-01-04"),
                d("2024-01-04")
            ]
        );
        assert_eq!(tx.amount, [10.5, 7.0, 1.25, 3.0, 4.0]);
        assert_eq!(tx.volume.as_deref(), Some(&[3.0, 2.5, 1.0, 1.0, 0.0][..]));
        assert_eq!(date_of(d("2024-02-29")).to_string(), "2024-02-29");
        assert_eq!(day_of(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
    }

    #[test]
    fn a_row_without_time_and_amount_registers_a_customer_without_purchase() {
        let tx = read("cust,when,amt\na,2024-01-01,5\nnever,,\n", false).unwrap();
        assert_eq!(tx.customers(), 2);
        assert_eq!(tx.len(), 1);
    }

    #[test]
    fn bad_input_names_the_line_and_the_column() {
        let e = read("cust,when\na,2024-01-01\n", false).unwrap_err();
        assert!(
            matches!(&e, InputError::MissingColumn { column, .. } if column == "amt"),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("line 1: no column named \"amt\""),
            "{e}"
        );

        let e = read("cust,when,amt\na,2024-01-01,5\nb,2024-13-01,5\n", false).unwrap_err();
        assert!(
            matches!(&e, InputError::BadTime { line: 3, column, value } if column == "when" && value == "2024-13-01"),
            "{e}"
        );
        assert!(e.to_string().starts_with("line 3, column \"when\""), "{e}");

        for bad in [
            "2024-02-30",
            "01/02/2024",
            "2024-01-01 25:00:00",
            "2024-01-01X",
            "yesterday",
        ] {
            let text = format!("cust,when,amt\na,{bad},5\n");
            assert!(
                matches!(read(&text, false), Err(InputError::BadTime { line: 2, .. })),
                "{bad}"
            );
        }

        let e = read(
            "cust,when,amt\na,2024-01-01,5\nb,2024-01-01,\"1,5\"\n",
            false,
        )
        .unwrap_err();
        assert!(
            matches!(&e, InputError::BadNumber { line: 3, column, .. } if column == "amt"),
            "{e}"
        );
        let e = read("cust,when,amt\na,2024-01-01,NaN\n", false).unwrap_err();
        assert!(matches!(&e, InputError::BadNumber { line: 2, .. }), "{e}");
        let e = read("cust,when,amt,litres\na,2024-01-01,1,x\n", true).unwrap_err();
        assert!(
            matches!(&e, InputError::BadNumber { line: 2, column, .. } if column == "litres"),
            "{e}"
        );

        let e = read("cust,when,amt\na,2024-01-01,5\n,2024-01-01,5\n", false).unwrap_err();
        assert!(
            matches!(e, InputError::EmptyCustomer { line: 3, .. }),
            "{e}"
        );
        let skipping = CsvColumns {
            skip_empty_customer: true,
            ..columns(false)
        };
        let text = "cust,when,amt\na,2024-01-01,5\n,2024-01-01,5\n";
        let tx = read_csv(text.as_bytes(), &skipping).unwrap();
        assert_eq!((tx.len(), tx.skipped_rows), (1, 1));

        let e = read("cust,when,amt\na,2024-01-01,5\nb,2024-01-01\n", false).unwrap_err();
        assert!(matches!(&e, InputError::Malformed { line: 3, .. }), "{e}");
        assert!(
            e.to_string().contains("2 fields where the header has 3"),
            "{e}"
        );

        assert!(matches!(read("", false), Err(InputError::NoHeader)));
        let e = read("cust,when,amt\n", false).unwrap_err();
        assert!(matches!(e, InputError::NoRows { line: 1 }), "{e}");
    }

    #[test]
    fn ids_are_numbered_once_in_order_of_appearance() {
        let mut tx = Transactions::new(false);
        let ids: Vec<String> = (0..5_000)
            .map(|i| format!("customer-{}", i * 7919 % 5_000))
            .collect();
        for id in &ids {
            tx.add_customer(id);
        }
        // Again, in another order: the same numbers.
        for (n, id) in ids.iter().enumerate().rev() {
            assert_eq!(tx.customer_number(id), n as u32);
        }
        assert_eq!(tx.customers(), 5_000);
        assert_eq!(tx.name(4_321), ids[4_321]);
        tx.add_customer("");
        tx.add_customer("ünïcode, with comma");
        assert_eq!(tx.name(5_000), "");
        assert_eq!(tx.customer_number("ünïcode, with comma"), 5_001);
    }

    #[test]
    fn batches_of_rows_number_customers_as_one_by_one() {
        let mut text = String::from("cust,when,amt\n");
        let mut expected = Transactions::new(false);
        let mut rng = crate::generate::Rng::new(5);
        for i in 0..3_000 {
            let id = format!("c{}", rng.next_u64() % 700);
            if i % 97 == 0 {
                text.push_str(&format!("{id},,\n"));
                expected.add_customer(&id);
            } else {
                text.push_str(&format!("{id},2024-03-{:02},{i}\n", 1 + i % 28));
                expected.push(
                    &id,
                    day_of(NaiveDate::from_ymd_opt(2024, 3, 1 + i % 28).unwrap()),
                    f64::from(i),
                    None,
                );
            }
        }
        let tx = read(&text, false).unwrap();
        assert_eq!(
            tx.names().collect::<Vec<_>>(),
            expected.names().collect::<Vec<_>>()
        );
        assert_eq!(tx.customer, expected.customer);
        assert_eq!(tx.day, expected.day);
        assert_eq!(tx.amount, expected.amount);
    }

    #[test]
    fn very_long_ids_are_told_apart() {
        // Longer than a slot can record: found through the table of ends instead.
        let long = "x".repeat((1 << 24) + 3);
        let mut other = long.clone();
        other.push('y');
        let mut tx = Transactions::new(false);
        assert_eq!(tx.customer_number("short"), 0);
        assert_eq!(tx.customer_number(&long), 1);
        assert_eq!(tx.customer_number(&other), 2);
        assert_eq!(tx.customer_number("short"), 0);
        assert_eq!(tx.customer_number(&long), 1);
        assert_eq!(tx.customer_number(&other), 2);
        assert_eq!(tx.name(1).len(), long.len());
    }

    #[test]
    fn sorting_by_day_keeps_each_days_order() {
        let mut tx = Transactions::new(true);
        tx.push("a", 5, 1.0, Some(10.0));
        tx.push("a", 3, 2.0, Some(20.0));
        tx.push("b", 5, 3.0, Some(30.0));
        tx.push("b", 1, 4.0, Some(40.0));
        let sorted = tx.sorted_by_day();
        assert_eq!(sorted.day, [1, 3, 5, 5]);
        assert_eq!(sorted.amount, [4.0, 2.0, 1.0, 3.0]);
        assert_eq!(sorted.customer, [1, 0, 0, 1]);
        assert_eq!(sorted.volume, Some(vec![40.0, 20.0, 10.0, 30.0]));
        assert_eq!(sorted.name(1), "b");
    }

    #[test]
    fn written_csv_reads_back_the_same() {
        let mut tx = Transactions::new(true);
        tx.push("x\"1", 19_000, 12.5, Some(30.0));
        tx.push("y,2", 19_001, -3.0, Some(0.0));
        tx.add_customer("z");
        let mut out = Vec::new();
        write_csv(&tx, &mut out).unwrap();
        let back = read_csv(
            &out[..],
            &CsvColumns {
                customer: "customer".into(),
                time: "date".into(),
                amount: "amount".into(),
                volume: Some("volume".into()),
                skip_empty_customer: false,
            },
        )
        .unwrap();
        assert_eq!(back.names().collect::<Vec<_>>(), ["x\"1", "y,2", "z"]);
        assert_eq!(back.day, tx.day);
        assert_eq!(back.amount, tx.amount);
        assert_eq!(back.volume, tx.volume);
    }
}

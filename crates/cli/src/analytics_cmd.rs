//! `forecourt analytics …`: the analytics crate on a CSV file of transactions, printed as
//! JSON, CSV or a table; a generator of model data and a benchmark of the CLV pipeline.
//!
//! Every per-customer command gets its data as `Transactions` from [`load`]: a
//! transactions CSV, or a sales file (`--sales-csv`) whose members' sales become
//! purchases. The sales commands (churn, forecast, reports, price, export-parquet) are in
//! [`sales`]. Reading live data from a database (`--db URL`) is to be added in `load`.

mod sales;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use forecourt_analytics::abc::{abc, AbcThresholds};
use forecourt_analytics::clv::{clv_report, predict, ClvOptions, ClvReport};
use forecourt_analytics::five_s::five_s;
use forecourt_analytics::generate::{generate, GeneratorParams};
use forecourt_analytics::lifecycle::{lifecycle, LifecycleParams};
use forecourt_analytics::refuel::{evaluate, refuel_cycles, RefuelParams};
use forecourt_analytics::rfm::{rfm, Segment};
use forecourt_analytics::summary::{default_as_of, summarise_transactions, Histories, Period};
use forecourt_analytics::transactions::{
    date_of, day_of, read_csv_path, write_csv, write_field, CsvColumns, Day, Transactions,
};
use forecourt_analytics::{bgnbd, gamma_gamma};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum AnalyticsCommand {
    /// BG/NBD and Gamma-Gamma fitted by maximum likelihood, and per customer the expected
    /// purchases in the horizon, P(alive) and the expected value (lifetime value).
    Clv(ClvArgs),
    /// RFM quintile scores and named segments.
    Rfm(DescribeArgs),
    /// ABC (Pareto) classes by cumulative contribution, with the curve.
    Abc(AbcArgs),
    /// Lifecycle stage: potential, new, floating, loyal or lapsed.
    Lifecycle(LifecycleArgs),
    /// Refuel cycle: typical interval, predicted next visit and reminder day.
    Refuel(RefuelArgs),
    /// The 5S view: tenure, volume, frequency, recency and contribution.
    #[command(name = "5s")]
    FiveS(DescribeArgs),
    /// Write a transactions CSV drawn from BG/NBD and Gamma-Gamma (CDNOW's published
    /// parameters, in weeks): data whose true parameters are known.
    Generate(GenerateArgs),
    /// Time the CLV pipeline: CSV in, summary, both fits, per-customer figures out.
    Bench(BenchArgs),
    /// Churn risk per customer from a sales file, with the model's AUC on a held-out
    /// period against a recency-only baseline.
    Churn(sales::ChurnArgs),
    /// Daily fuel demand per station and product for the next days (Holt-Winters), with
    /// its MASE on the last days against seasonal naive.
    Forecast(sales::ForecastArgs),
    /// Sales by station, region, product, day, hour or payment method; members against
    /// walk-ins; cohort retention.
    Reports(sales::ReportsArgs),
    /// Price sensitivity: who fills up before price rises, who only buys with discounts.
    Price(sales::PriceArgs),
    /// Write the sales and per-customer metrics (RFM, CLV) as Parquet files.
    ExportParquet(sales::ExportParquetArgs),
}

/// Where the transactions come from.
#[derive(Args, Clone)]
pub struct SourceArgs {
    /// CSV file of transactions with a header line.
    #[arg(long, required_unless_present_any = ["db", "sales_csv"], conflicts_with_all = ["db", "sales_csv"])]
    csv: Option<PathBuf>,
    /// Live data instead of a CSV: the members' sales of this database (net of refunds,
    /// by local day in China Standard Time), and members who never bought.
    #[arg(long, conflicts_with = "sales_csv")]
    db: Option<String>,
    /// Or a sales file (plain layout, or `forecourt export sales` output): the members'
    /// sales, one purchase per sale in yuan and litres; walk-ins are skipped. The column
    /// options do not apply.
    #[arg(long)]
    sales_csv: Option<PathBuf>,
    /// Column with the customer id.
    #[arg(long, default_value = "customer")]
    customer_col: String,
    /// Column with the date (YYYY-MM-DD), date-time (YYYY-MM-DD HH:MM:SS) or RFC 3339 time.
    #[arg(long, default_value = "date")]
    time_col: String,
    /// Column with the amount of the purchase.
    #[arg(long, default_value = "amount")]
    amount_col: String,
    /// Column with the volume (litres), when there is one.
    #[arg(long)]
    volume_col: Option<String>,
    /// Skip rows without a customer (anonymous walk-in sales) instead of refusing them.
    #[arg(long)]
    skip_empty_customer: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Table,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
}

impl From<PeriodArg> for Period {
    fn from(p: PeriodArg) -> Period {
        match p {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
        }
    }
}

#[derive(Args)]
pub struct ClvArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Last day of the calibration period (included).
    #[arg(long)]
    calibration_end: NaiveDate,
    #[arg(long, value_enum, default_value = "week")]
    period: PeriodArg,
    /// Periods ahead to predict.
    #[arg(long, default_value_t = 52)]
    horizon: u32,
    /// Discount rate per period (0.001 a week is about 5 % a year); 0 for none.
    #[arg(long, default_value_t = 0.0)]
    discount_rate: f64,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

#[derive(Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The day to look from; the last purchase day in the data by default. Later
    /// transactions are not seen.
    #[arg(long)]
    as_of: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

#[derive(Args)]
pub struct AbcArgs {
    #[command(flatten)]
    describe: DescribeArgs,
    /// Cumulative share of sales where class A ends.
    #[arg(long, default_value_t = 0.55)]
    a_share: f64,
    /// Cumulative share of sales where class B ends.
    #[arg(long, default_value_t = 0.85)]
    b_share: f64,
}

#[derive(Args)]
pub struct LifecycleArgs {
    #[command(flatten)]
    describe: DescribeArgs,
    /// New while the first purchase is less than this many days ago [default: 30].
    #[arg(long)]
    new_days: Option<u32>,
    /// Lapsed after this many days without a visit [default: 90].
    #[arg(long)]
    lapse_days: Option<u32>,
    /// Lapsed after this many typical intervals without a visit [default: 3].
    #[arg(long)]
    lapse_multiple: Option<f64>,
    /// … but not before this many days [default: 14].
    #[arg(long)]
    lapse_min_days: Option<u32>,
    /// Loyal needs this many visits in the window [default: 4].
    #[arg(long)]
    loyal_min_visits: Option<usize>,
    /// The loyalty window in days [default: 180].
    #[arg(long)]
    loyal_window_days: Option<u32>,
    /// Loyal intervals vary by at most this coefficient of variation [default: 0.5].
    #[arg(long)]
    loyal_max_cv: Option<f64>,
}

#[derive(Args)]
pub struct RefuelArgs {
    #[command(flatten)]
    describe: DescribeArgs,
    /// Also score the predictions on the visits from this day to the as-of day against
    /// the mean-interval and last-interval baselines.
    #[arg(long)]
    evaluate_from: Option<NaiveDate>,
    /// Intervals needed before one is typical.
    #[arg(long, default_value_t = RefuelParams::default().min_intervals)]
    min_intervals: usize,
    /// Intervals longer than this many times the median are gaps, left out.
    #[arg(long, default_value_t = RefuelParams::default().gap_multiple)]
    gap_multiple: f64,
    /// Only the most recent this many intervals count.
    #[arg(long, default_value_t = RefuelParams::default().recent_intervals)]
    recent_intervals: usize,
}

/// The order of the rows of a generated file.
#[derive(Clone, Copy, ValueEnum)]
pub enum RowOrder {
    /// By date, as a till's export lists sales.
    Date,
    /// Each customer's purchases together.
    Customer,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value = "date")]
    order: RowOrder,
    /// The CSV file to write (customer,date,amount).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Customers to generate (ignored with --csv).
    #[arg(long, default_value_t = 1_000_000)]
    customers: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The order of the generated rows.
    #[arg(long, value_enum, default_value = "date")]
    order: RowOrder,
    /// Time this file instead of a generated one (columns customer,date,amount);
    /// needs --calibration-end.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Last day of the calibration period; 39 weeks into generated data by default.
    #[arg(long)]
    calibration_end: Option<NaiveDate>,
    /// Where to write the per-customer figures; a temporary file by default.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Reads the transactions of a command: the place for other sources (a database).
fn load(source: &SourceArgs) -> anyhow::Result<Transactions> {
    let Some(csv) = &source.csv else {
        if let Some(url) = source.db.as_deref() {
            return crate::analytics_db::load(url);
        }
        let path = source
            .sales_csv
            .as_ref()
            .context("give --csv, --sales-csv or --db")?;
        let tx = forecourt_analytics::sales::to_transactions(&sales::load_sales_path(path)?);
        eprintln!("skipped {} walk-in sale lines", tx.skipped_rows);
        return Ok(tx);
    };
    let columns = CsvColumns {
        customer: source.customer_col.clone(),
        time: source.time_col.clone(),
        amount: source.amount_col.clone(),
        volume: source.volume_col.clone(),
        skip_empty_customer: source.skip_empty_customer,
    };
    let tx = read_csv_path(csv, &columns).with_context(|| format!("reading {}", csv.display()))?;
    if tx.skipped_rows > 0 {
        eprintln!("skipped {} rows without a customer", tx.skipped_rows);
    }
    Ok(tx)
}

fn as_of_day(tx: &Transactions, as_of: Option<NaiveDate>) -> anyhow::Result<Day> {
    match as_of {
        Some(d) => Ok(day_of(d)),
        None => default_as_of(tx).context("the data has no purchases to look from"),
    }
}

pub fn run(command: AnalyticsCommand) -> anyhow::Result<()> {
    match run_to_stdout(command) {
        // The reader went away (`… | head`): not an error of ours.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn run_to_stdout(command: AnalyticsCommand) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    match command {
        AnalyticsCommand::Clv(args) => clv(args, &mut out)?,
        AnalyticsCommand::Rfm(args) => rfm_cmd(args, &mut out)?,
        AnalyticsCommand::Abc(args) => abc_cmd(args, &mut out)?,
        AnalyticsCommand::Lifecycle(args) => lifecycle_cmd(args, &mut out)?,
        AnalyticsCommand::Refuel(args) => refuel_cmd(args, &mut out)?,
        AnalyticsCommand::FiveS(args) => five_s_cmd(args, &mut out)?,
        AnalyticsCommand::Generate(args) => generate_cmd(args, &mut out)?,
        AnalyticsCommand::Bench(args) => bench(args, &mut out)?,
        AnalyticsCommand::Churn(args) => sales::churn_cmd(args, &mut out)?,
        AnalyticsCommand::Forecast(args) => sales::forecast_cmd(args, &mut out)?,
        AnalyticsCommand::Reports(args) => sales::reports_cmd(args, &mut out)?,
        AnalyticsCommand::Price(args) => sales::price_cmd(args, &mut out)?,
        AnalyticsCommand::ExportParquet(args) => sales::export_parquet_cmd(args, &mut out)?,
    }
    out.flush()?;
    Ok(())
}

// --- Output: one table of rows, with a header of facts, in three formats. ------------

/// A value in an output row.
enum Cell<'a> {
    Text(&'a str),
    Owned(String),
    Number(f64),
    Integer(i64),
    Missing,
}

impl Cell<'_> {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => (*s).to_owned(),
            Cell::Owned(s) => s.clone(),
            Cell::Number(v) => number(*v),
            Cell::Integer(v) => v.to_string(),
            Cell::Missing => String::new(),
        }
    }
}

/// A finite number as its shortest exact decimal (JSON and CSV write it the same way,
/// through serde_json's fast float printer); NaN and infinities as empty text (`null`
/// in JSON).
fn number(v: f64) -> String {
    if v.is_finite() {
        serde_json::to_string(&v).unwrap_or_default()
    } else {
        String::new()
    }
}

fn date_text(day: Day) -> String {
    date_of(day).format("%Y-%m-%d").to_string()
}

fn opt_date(day: Option<Day>) -> Cell<'static> {
    day.map_or(Cell::Missing, |d| Cell::Owned(date_text(d)))
}

fn opt_number(v: Option<f64>) -> Cell<'static> {
    v.map_or(Cell::Missing, Cell::Number)
}

/// Fills the cells of row i.
type RowFn<'a> = dyn Fn(usize, &mut Vec<Cell<'a>>) + Sync + 'a;

/// Rows produced on demand, so that a million customers are never held as text.
struct Rows<'a> {
    columns: &'a [&'a str],
    len: usize,
    row: Box<RowFn<'a>>,
}

/// Prints `facts` (a JSON object) and the rows: in JSON as the facts with the rows under
/// `rows_key`; in CSV as the rows only (the facts go to standard error); as a table, the
/// facts as `key: value` lines, then aligned columns.
fn emit(
    out: &mut impl Write,
    format: Format,
    facts: serde_json::Value,
    rows_key: &str,
    rows: &Rows,
) -> anyhow::Result<()> {
    let mut cells = Vec::with_capacity(rows.columns.len());
    match format {
        Format::Json => {
            let facts = facts.as_object().cloned().unwrap_or_default();
            write!(out, "{{")?;
            for (k, v) in &facts {
                write!(
                    out,
                    "{}: {},",
                    serde_json::to_string(k)?,
                    serde_json::to_string(v)?
                )?;
            }
            write!(out, "{}: [", serde_json::to_string(rows_key)?)?;
            write_rows(out, format, rows)?;
            writeln!(out, "]}}")?;
        }
        Format::Csv => {
            if let Some(facts) = facts.as_object() {
                for (k, v) in facts {
                    eprintln!("{k}: {v}");
                }
            }
            writeln!(out, "{}", rows.columns.join(","))?;
            write_rows(out, format, rows)?;
        }
        Format::Table => {
            if let Some(facts) = facts.as_object() {
                for (k, v) in facts {
                    writeln!(out, "{k}: {v}")?;
                }
                writeln!(out)?;
            }
            let mut widths: Vec<usize> = rows.columns.iter().map(|c| c.chars().count()).collect();
            for i in 0..rows.len {
                cells.clear();
                (rows.row)(i, &mut cells);
                for (w, cell) in widths.iter_mut().zip(&cells) {
                    *w = (*w).max(table_text(cell).chars().count());
                }
            }
            let line = |out: &mut dyn Write, texts: &[String]| -> std::io::Result<()> {
                let padded: Vec<String> = texts
                    .iter()
                    .zip(&widths)
                    .map(|(t, &w)| format!("{t:>w$}"))
                    .collect();
                writeln!(out, "{}", padded.join("  ").trim_end())
            };
            let header: Vec<String> = rows.columns.iter().map(|c| (*c).to_owned()).collect();
            line(out, &header)?;
            for i in 0..rows.len {
                cells.clear();
                (rows.row)(i, &mut cells);
                let texts: Vec<String> = cells.iter().map(table_text).collect();
                line(out, &texts)?;
            }
        }
    }
    Ok(())
}

/// Writes the rows as JSON objects (comma-separated, a line each) or CSV lines. The
/// text is made on every core, a block of rows at a time, and written in order.
fn write_rows(out: &mut impl Write, format: Format, rows: &Rows) -> anyhow::Result<()> {
    const BLOCK_ROWS: usize = 50_000;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let mut start = 0;
    while start < rows.len {
        let end = (start + BLOCK_ROWS * threads).min(rows.len);
        let per_thread = (end - start).div_ceil(threads);
        let texts: Vec<std::io::Result<Vec<u8>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let from = (start + t * per_thread).min(end);
                    let to = (from + per_thread).min(end);
                    scope.spawn(move || format_rows(format, rows, from..to))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a formatting thread panicked"))
                .collect()
        });
        for text in texts {
            out.write_all(&text?)?;
        }
        start = end;
    }
    Ok(())
}

fn format_rows(
    format: Format,
    rows: &Rows,
    range: std::ops::Range<usize>,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(range.len() * 128);
    let mut cells = Vec::with_capacity(rows.columns.len());
    for i in range {
        cells.clear();
        (rows.row)(i, &mut cells);
        match format {
            Format::Json => {
                out.extend_from_slice(if i == 0 { b"\n{" } else { b",\n{" });
                for (j, (name, cell)) in rows.columns.iter().zip(&cells).enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write!(out, "\"{name}\":")?;
                    match cell {
                        Cell::Text(s) => serde_json::to_writer(&mut out, s)?,
                        Cell::Owned(s) => serde_json::to_writer(&mut out, s)?,
                        Cell::Number(v) if v.is_finite() => serde_json::to_writer(&mut out, v)?,
                        Cell::Integer(v) => write!(out, "{v}")?,
                        Cell::Number(_) | Cell::Missing => out.extend_from_slice(b"null"),
                    }
                }
                out.push(b'}');
            }
            Format::Csv | Format::Table => {
                for (j, cell) in cells.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    match cell {
                        Cell::Text(s) => write_field(&mut out, s)?,
                        Cell::Owned(s) => write_field(&mut out, s)?,
                        Cell::Number(v) if v.is_finite() => serde_json::to_writer(&mut out, v)?,
                        Cell::Integer(v) => write!(out, "{v}")?,
                        Cell::Number(_) | Cell::Missing => {}
                    }
                }
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

/// Numbers rounded to four decimals for reading (trailing zeros dropped); the JSON and
/// CSV keep every digit.
fn table_text(cell: &Cell) -> String {
    match cell {
        Cell::Number(v) if v.is_finite() => {
            let text = format!("{v:.4}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" {
                "0".to_owned()
            } else {
                text.to_owned()
            }
        }
        other => other.text(),
    }
}

// --- Commands ----------------------------------------------------------------------

fn clv(args: ClvArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let tx = load(&args.source)?;
    let options = ClvOptions {
        calibration_end: day_of(args.calibration_end),
        period: args.period.into(),
        horizon: args.horizon,
        discount_rate: args.discount_rate,
    };
    let report = clv_report(&tx, &options)?;
    write_clv(out, args.format, &tx, &report, &options, true)
}

/// The clv output; `facts` false leaves out the parameters (CSV for the benchmark).
fn write_clv(
    out: &mut impl Write,
    format: Format,
    tx: &Transactions,
    report: &ClvReport,
    options: &ClvOptions,
    facts: bool,
) -> anyhow::Result<()> {
    let bg = &report.bgnbd;
    let gg = &report.gamma_gamma;
    let facts_json = json!({
        "bgnbd": {
            "r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b,
            "log_likelihood": bg.log_likelihood, "customers": bg.customers,
        },
        "gamma_gamma": {
            "p": gg.params.p, "q": gg.params.q, "gamma": gg.params.gamma,
            "log_likelihood": gg.log_likelihood, "customers": gg.customers,
        },
        "calibration_end": date_text(options.calibration_end),
        "period": match options.period { Period::Day => "day", Period::Week => "week" },
        "horizon": options.horizon,
        "discount_rate": options.discount_rate,
    });
    let s = &report.summary;
    let columns = [
        "customer",
        "frequency",
        "recency",
        "T",
        "monetary",
        "expected_transactions",
        "p_alive",
        "expected_average_value",
        "expected_value",
    ];
    let rows = Rows {
        columns: &columns,
        len: s.len(),
        row: Box::new(move |i, cells| {
            cells.extend([
                Cell::Text(tx.name(s.customer[i])),
                Cell::Integer(i64::from(s.frequency[i])),
                Cell::Number(s.recency[i]),
                Cell::Number(s.t[i]),
                Cell::Number(s.monetary[i]),
                Cell::Number(report.expected_transactions[i]),
                Cell::Number(report.p_alive[i]),
                Cell::Number(report.expected_average_value[i]),
                Cell::Number(report.expected_value[i]),
            ])
        }),
    };
    let facts = if facts {
        facts_json
    } else {
        serde_json::Value::Null
    };
    emit(out, format, facts, "customers", &rows)
}

fn rfm_cmd(args: DescribeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let tx = load(&args.source)?;
    let as_of = as_of_day(&tx, args.as_of)?;
    let rows = rfm(&tx, &Histories::new(&tx), as_of);
    let segments: Vec<serde_json::Value> = Segment::ALL
        .iter()
        .map(|&seg| {
            let n = rows.iter().filter(|r| r.segment == seg).count();
            json!({"segment": seg.name(), "customers": n, "share": share(n, rows.len())})
        })
        .collect();
    let facts = json!({"as_of": date_text(as_of), "segments": segments});
    let columns = [
        "customer",
        "recency_days",
        "frequency",
        "monetary",
        "r",
        "f",
        "m",
        "rfm",
        "segment",
    ];
    let table = Rows {
        columns: &columns,
        len: rows.len(),
        row: Box::new(|i, cells| {
            let r = &rows[i];
            cells.extend([
                Cell::Text(tx.name(r.customer)),
                Cell::Integer(i64::from(r.recency_days)),
                Cell::Integer(i64::from(r.frequency)),
                Cell::Number(r.monetary),
                Cell::Integer(i64::from(r.r)),
                Cell::Integer(i64::from(r.f)),
                Cell::Integer(i64::from(r.m)),
                Cell::Owned(format!("{}{}{}", r.r, r.f, r.m)),
                Cell::Text(r.segment.name()),
            ])
        }),
    };
    emit(out, args.format, facts, "customers", &table)
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

fn abc_cmd(args: AbcArgs, out: &mut impl Write) -> anyhow::Result<()> {
    if !(0.0 < args.a_share && args.a_share < args.b_share && args.b_share <= 1.0) {
        bail!("need 0 < --a-share < --b-share ≤ 1");
    }
    let d = &args.describe;
    let tx = load(&d.source)?;
    let as_of = as_of_day(&tx, d.as_of)?;
    let thresholds = AbcThresholds {
        a: args.a_share,
        b: args.b_share,
    };
    let report = abc(&tx, &Histories::new(&tx), as_of, thresholds);
    let facts = json!({
        "as_of": date_text(as_of),
        "thresholds": {"a": thresholds.a, "b": thresholds.b},
        "classes": report.classes,
        "curve": report.curve,
    });
    let columns = [
        "customer",
        "rank",
        "contribution",
        "share",
        "cumulative_share",
        "class",
    ];
    let rows = Rows {
        columns: &columns,
        len: report.rows.len(),
        row: Box::new(|i, cells| {
            let r = &report.rows[i];
            cells.extend([
                Cell::Text(tx.name(r.customer)),
                Cell::Integer(i64::from(r.rank)),
                Cell::Number(r.contribution),
                Cell::Number(r.share),
                Cell::Number(r.cumulative_share),
                Cell::Text(r.class.name()),
            ])
        }),
    };
    emit(out, d.format, facts, "customers", &rows)
}

fn lifecycle_cmd(args: LifecycleArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let d = &args.describe;
    let tx = load(&d.source)?;
    let as_of = as_of_day(&tx, d.as_of)?;
    let mut params = LifecycleParams::default();
    if let Some(v) = args.new_days {
        params.new_days = v;
    }
    if let Some(v) = args.lapse_days {
        params.lapse_days = v;
    }
    if let Some(v) = args.lapse_multiple {
        params.lapse_multiple = v;
    }
    if let Some(v) = args.lapse_min_days {
        params.lapse_min_days = v;
    }
    if let Some(v) = args.loyal_min_visits {
        params.loyal_min_visits = v;
    }
    if let Some(v) = args.loyal_window_days {
        params.loyal_window_days = v;
    }
    if let Some(v) = args.loyal_max_cv {
        params.loyal_max_cv = v;
    }
    let rows = lifecycle(&tx, &Histories::new(&tx), as_of, &params);
    let stages: Vec<serde_json::Value> = ["potential", "new", "floating", "loyal", "lapsed"]
        .iter()
        .map(|&name| {
            let n = rows.iter().filter(|r| r.stage.name() == name).count();
            json!({"stage": name, "customers": n, "share": share(n, rows.len())})
        })
        .collect();
    let facts = json!({
        "as_of": date_text(as_of),
        "stages": stages,
        "params": {
            "new_days": params.new_days, "lapse_days": params.lapse_days,
            "lapse_multiple": params.lapse_multiple, "lapse_min_days": params.lapse_min_days,
            "loyal_min_visits": params.loyal_min_visits, "loyal_window_days": params.loyal_window_days,
            "loyal_max_cv": params.loyal_max_cv,
        },
    });
    let columns = [
        "customer",
        "stage",
        "visits",
        "first_visit",
        "last_visit",
        "days_since_last_visit",
        "typical_interval_days",
        "interval_cv",
    ];
    let table = Rows {
        columns: &columns,
        len: rows.len(),
        row: Box::new(|i, cells| {
            let r = &rows[i];
            cells.extend([
                Cell::Text(tx.name(r.customer)),
                Cell::Text(r.stage.name()),
                Cell::Integer(r.visits as i64),
                opt_date(r.first_visit),
                opt_date(r.last_visit),
                r.days_since_last_visit
                    .map_or(Cell::Missing, |v| Cell::Integer(i64::from(v))),
                opt_number(r.typical_interval_days),
                opt_number(r.interval_cv),
            ])
        }),
    };
    emit(out, d.format, facts, "customers", &table)
}

fn refuel_cmd(args: RefuelArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let d = &args.describe;
    let tx = load(&d.source)?;
    let as_of = as_of_day(&tx, d.as_of)?;
    let histories = Histories::new(&tx);
    if args.gap_multiple.is_nan() || args.gap_multiple < 1.0 || args.recent_intervals == 0 {
        bail!("--gap-multiple must be at least 1 and --recent-intervals at least 1");
    }
    let params = RefuelParams {
        min_intervals: args.min_intervals,
        gap_multiple: args.gap_multiple,
        recent_intervals: args.recent_intervals,
    };
    let rows = refuel_cycles(&tx, &histories, as_of, &params);
    let mut facts = json!({"as_of": date_text(as_of)});
    if let Some(from) = args.evaluate_from {
        let e = evaluate(&tx, &histories, day_of(from), as_of, &params);
        facts["evaluation"] = json!({
            "from": from.to_string(), "to": date_text(as_of), "detail": e,
        });
    }
    let columns = [
        "customer",
        "visits",
        "last_visit",
        "typical_interval_days",
        "next_visit",
        "remind_on",
        "overdue_days",
    ];
    let table = Rows {
        columns: &columns,
        len: rows.len(),
        row: Box::new(|i, cells| {
            let r = &rows[i];
            cells.extend([
                Cell::Text(tx.name(r.customer)),
                Cell::Integer(r.visits as i64),
                Cell::Owned(date_text(r.last_visit)),
                opt_number(r.typical_interval_days),
                opt_date(r.next_visit),
                opt_date(r.remind_on),
                Cell::Integer(i64::from(r.overdue_days)),
            ])
        }),
    };
    emit(out, d.format, facts, "customers", &table)
}

fn five_s_cmd(args: DescribeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let tx = load(&args.source)?;
    let as_of = as_of_day(&tx, args.as_of)?;
    let rows = five_s(&tx, &Histories::new(&tx), as_of);
    let facts = json!({"as_of": date_text(as_of)});
    let columns = [
        "customer",
        "tenure_days",
        "volume",
        "transactions",
        "visits",
        "visits_per_30_days",
        "recency_days",
        "contribution",
        "contribution_share",
    ];
    let table = Rows {
        columns: &columns,
        len: rows.len(),
        row: Box::new(|i, cells| {
            let r = &rows[i];
            cells.extend([
                Cell::Text(tx.name(r.customer)),
                Cell::Integer(i64::from(r.tenure_days)),
                opt_number(r.volume),
                Cell::Integer(i64::from(r.transactions)),
                Cell::Integer(i64::from(r.visits)),
                Cell::Number(r.visits_per_30_days),
                Cell::Integer(i64::from(r.recency_days)),
                Cell::Number(r.contribution),
                Cell::Number(r.contribution_share),
            ])
        }),
    };
    emit(out, args.format, facts, "customers", &table)
}

fn ordered(tx: Transactions, order: RowOrder) -> Transactions {
    match order {
        RowOrder::Date => tx.sorted_by_day(),
        RowOrder::Customer => tx,
    }
}

fn generate_cmd(args: GenerateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let params = GeneratorParams::cdnow_like(args.customers, args.seed);
    let tx = ordered(generate(&params).map_err(anyhow::Error::msg)?, args.order);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_csv(&tx, file).with_context(|| format!("writing {}", args.out.display()))?;
    let start = params.start;
    writeln!(
        out,
        "wrote {} purchases of {} customers to {} ({} to {}; calibrate to {} for 39 weeks); drawn with BG/NBD {:?} and Gamma-Gamma {:?} in weeks",
        tx.len(),
        tx.customers(),
        args.out.display(),
        date_text(start),
        date_text(start + params.days as Day - 1),
        date_text(start + 272),
        params.bgnbd,
        params.gamma_gamma,
    )?;
    Ok(())
}

fn bench(args: BenchArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let generated = args.csv.is_none();
    let (path, calibration_end, truth) = match &args.csv {
        Some(path) => {
            let Some(end) = args.calibration_end else {
                bail!("--csv needs --calibration-end");
            };
            (path.clone(), day_of(end), None)
        }
        None => {
            let params = GeneratorParams::cdnow_like(args.customers, args.seed);
            let path = std::env::temp_dir().join(format!(
                "forecourt-clv-bench-{}-{}.csv",
                args.customers, args.seed
            ));
            let started = Instant::now();
            let tx = ordered(generate(&params).map_err(anyhow::Error::msg)?, args.order);
            write_csv(&tx, std::fs::File::create(&path)?)?;
            writeln!(
                out,
                "generated {} purchases of {} customers into {} in {:.2} s (not timed below)",
                tx.len(),
                tx.customers(),
                path.display(),
                started.elapsed().as_secs_f64()
            )?;
            let end = args.calibration_end.map_or(params.start + 272, day_of);
            (path, end, Some(params))
        }
    };
    let out_path = args
        .out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("forecourt-clv-bench-out.csv"));
    let options = ClvOptions {
        calibration_end,
        period: Period::Week,
        horizon: 52,
        discount_rate: 0.0,
    };

    let total = Instant::now();
    let mut stage = Instant::now();
    let mut lap = |name: &str, out: &mut dyn Write| -> std::io::Result<()> {
        let s = stage.elapsed().as_secs_f64();
        stage = Instant::now();
        writeln!(out, "  {name:<34} {s:>8.3} s")
    };
    writeln!(out, "CLV pipeline on {} ({} cores):", path.display(), cores)?;
    let tx = read_csv_path(
        &path,
        &CsvColumns {
            customer: "customer".into(),
            time: "date".into(),
            amount: "amount".into(),
            volume: None,
            skip_empty_customer: false,
        },
    )?;
    lap(&format!("read CSV ({} rows)", tx.len()), out)?;
    let summary = summarise_transactions(&tx, calibration_end, options.period);
    lap(&format!("summary ({} customers)", summary.len()), out)?;
    let data = bgnbd::BgNbdData::new(&summary.frequency, &summary.recency, &summary.t)?;
    let bg = bgnbd::fit(&data)?;
    lap(&format!("BG/NBD fit ({} evaluations)", bg.evaluations), out)?;
    let gg = gamma_gamma::fit(&gamma_gamma::GammaGammaData::new(
        &summary.frequency,
        &summary.monetary,
    )?)?;
    lap(
        &format!("Gamma-Gamma fit ({} evaluations)", gg.evaluations),
        out,
    )?;
    let report = predict(bg, gg, summary, &options);
    lap("predictions (52 weeks)", out)?;
    {
        let file = std::fs::File::create(&out_path)
            .with_context(|| format!("creating {}", out_path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        write_clv(&mut w, Format::Csv, &tx, &report, &options, false)?;
        w.flush()?;
    }
    lap("write per-customer CSV", out)?;
    writeln!(
        out,
        "  {:<34} {:>8.3} s",
        "total",
        total.elapsed().as_secs_f64()
    )?;
    let (b, g) = (&report.bgnbd, &report.gamma_gamma);
    writeln!(
        out,
        "BG/NBD r {:.4} alpha {:.4} a {:.4} b {:.4} (LL {:.1}, {} customers, {} groups of repeat buyers)",
        b.params.r, b.params.alpha, b.params.a, b.params.b, b.log_likelihood, b.customers, b.groups
    )?;
    writeln!(
        out,
        "Gamma-Gamma p {:.4} q {:.4} gamma {:.4} (LL {:.1}, {} customers)",
        g.params.p, g.params.q, g.params.gamma, g.log_likelihood, g.customers
    )?;
    if let Some(t) = truth {
        writeln!(
            out,
            "drawn with r {} alpha {} a {} b {}; p {} q {} gamma {}",
            t.bgnbd.r,
            t.bgnbd.alpha,
            t.bgnbd.a,
            t.bgnbd.b,
            t.gamma_gamma.p,
            t.gamma_gamma.q,
            t.gamma_gamma.gamma
        )?;
    }
    let n = report.summary.len().max(1) as f64;
    writeln!(
        out,
        "per customer (mean): expected transactions {:.4}, P(alive) {:.4}, expected value {:.2}; written to {}",
        report.expected_transactions.iter().sum::<f64>() / n,
        report.p_alive.iter().sum::<f64>() / n,
        report.expected_value.iter().sum::<f64>() / n,
        out_path.display()
    )?;
    if generated {
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(csv: PathBuf) -> SourceArgs {
        SourceArgs {
            csv: Some(csv),
            db: None,
            sales_csv: None,
            customer_col: "customer".into(),
            time_col: "date".into(),
            amount_col: "amount".into(),
            volume_col: None,
            skip_empty_customer: false,
        }
    }

    fn cdnow() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../analytics/tests/fixtures/cdnow_sample.csv")
    }

    #[test]
    fn clv_json_has_the_contract_fields() {
        let mut out = Vec::new();
        clv(
            ClvArgs {
                source: source(cdnow()),
                calibration_end: NaiveDate::from_ymd_opt(1997, 9, 30).unwrap(),
                period: PeriodArg::Week,
                horizon: 52,
                discount_rate: 0.0,
                format: Format::Json,
            },
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let bg = &v["bgnbd"];
        assert!((bg["r"].as_f64().unwrap() - 0.243).abs() < 0.002);
        assert!((bg["log_likelihood"].as_f64().unwrap() + 9582.4).abs() < 1.0);
        for k in ["alpha", "a", "b"] {
            assert!(bg[k].as_f64().is_some(), "{k}");
        }
        assert!((v["gamma_gamma"]["gamma"].as_f64().unwrap() - 15.44).abs() < 0.1);
        let customers = v["customers"].as_array().unwrap();
        assert_eq!(customers.len(), 2_357);
        let first = &customers[0];
        for k in [
            "customer",
            "frequency",
            "recency",
            "T",
            "monetary",
            "expected_transactions",
            "p_alive",
            "expected_value",
        ] {
            assert!(!first[k].is_null(), "{k}");
        }
        assert_eq!(first["customer"], "1");
        assert_eq!(first["frequency"], 2);
    }

    #[test]
    fn a_bad_file_is_an_error_naming_the_line() {
        let dir =
            std::env::temp_dir().join(format!("forecourt-analytics-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.csv");
        std::fs::write(
            &path,
            "customer,date,amount\na,2024-01-01,5\nb,2024-01-02,five\n",
        )
        .unwrap();
        let mut out = Vec::new();
        let e = rfm_cmd(
            DescribeArgs {
                source: source(path),
                as_of: None,
                format: Format::Csv,
            },
            &mut out,
        )
        .unwrap_err();
        let message = format!("{e:#}");
        assert!(message.contains("line 3, column \"amount\""), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csv_and_table_print_every_row() {
        let mut csv = Vec::new();
        let args = |format| DescribeArgs {
            source: source(cdnow()),
            as_of: Some(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
            format,
        };
        five_s_cmd(args(Format::Csv), &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(text.lines().count(), 2_358);
        assert!(text.starts_with("customer,tenure_days,volume,"));
        let mut table = Vec::new();
        rfm_cmd(args(Format::Table), &mut table).unwrap();
        let text = String::from_utf8(table).unwrap();
        assert!(text.starts_with("as_of: \"1998-06-30\""));
        assert!(text
            .lines()
            .any(|l| l.trim_start().starts_with("customer") && l.trim_end().ends_with("segment")));
    }
}

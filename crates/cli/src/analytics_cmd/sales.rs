//! The commands over a sales file (`--sales-csv`, in the plain layout or as written by
//! `forecourt export sales`): churn risk, the demand forecast, the sales reports, price
//! sensitivity and the Parquet export.

use super::{date_text, emit, opt_number, share, Cell, Format, Rows};
use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use forecourt_analytics::churn::{self, ChurnParams, FEATURES};
use forecourt_analytics::clv::{clv_report, ClvOptions};
use forecourt_analytics::forecast::{daily_series, evaluate, forecast_all};
use forecourt_analytics::parquet_out::{customer_columns, sales_columns, write_columns, Column};
use forecourt_analytics::price::{infer_rises, price_sensitivity, rise_response, PriceParams};
use forecourt_analytics::reports::{cohort_retention, member_share, sales_by, Dimension};
use forecourt_analytics::rfm::rfm;
use forecourt_analytics::sales::read_sales;
use forecourt_analytics::sales::{read_sales_path, to_transactions, SaleRow};
use forecourt_analytics::summary::{Histories, Period};
use forecourt_analytics::transactions::{day_of, Day};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Reads a sales file, in either layout.
/// Where the sales come from: a file, or live data.
#[derive(Args, Clone)]
pub struct SalesSource {
    /// Sales CSV: the plain layout or `forecourt export sales` output.
    #[arg(long, required_unless_present = "db", conflicts_with = "db")]
    pub(super) sales_csv: Option<PathBuf>,
    /// Live data instead: every sale of this database, as `forecourt export sales`
    /// writes them.
    #[arg(long)]
    pub(super) db: Option<String>,
}

pub(super) fn load_sales_path(path: &Path) -> anyhow::Result<Vec<SaleRow>> {
    read_sales_path(path).with_context(|| format!("reading {}", path.display()))
}

pub(super) fn load_sales(source: &SalesSource) -> anyhow::Result<Vec<SaleRow>> {
    if let Some(path) = &source.sales_csv {
        return load_sales_path(path);
    }
    let url = source
        .db
        .as_deref()
        .context("give --sales-csv FILE or --db URL")?;
    let csv = crate::analytics_db::export_sales(url)?;
    read_sales(csv.as_slice()).context("reading the database's sales")
}

fn last_day(rows: &[SaleRow]) -> anyhow::Result<Day> {
    rows.iter()
        .map(SaleRow::day)
        .max()
        .context("the file has no sales")
}

#[derive(Args)]
pub struct ChurnArgs {
    #[command(flatten)]
    sales: SalesSource,
    /// Churned means no purchase in this many days after the cutoff.
    #[arg(long, default_value_t = ChurnParams::default().horizon_days)]
    horizon_days: u32,
    /// Only customers with a visit in this many days before the cutoff are scored.
    #[arg(long, default_value_t = ChurnParams::default().active_window_days)]
    active_window_days: u32,
    /// L2 penalty on the standardised coefficients.
    #[arg(long, default_value_t = ChurnParams::default().l2)]
    l2: f64,
    /// The cutoff the evaluation trains on; the last day minus twice the horizon by
    /// default, so that the test cutoff (this plus the horizon) has its labels.
    #[arg(long)]
    train_cutoff: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

pub(super) fn churn_cmd(args: ChurnArgs, out: &mut impl Write) -> anyhow::Result<()> {
    if !(args.l2.is_finite() && args.l2 >= 0.0) || args.horizon_days == 0 {
        bail!("--l2 must be 0 or more and --horizon-days at least 1");
    }
    let rows = load_sales(&args.sales)?;
    let tx = to_transactions(&rows);
    let histories = Histories::new(&tx);
    let last = last_day(&rows)?;
    let params = ChurnParams {
        horizon_days: args.horizon_days,
        active_window_days: args.active_window_days,
        l2: args.l2,
    };
    let n = args.horizon_days as Day;
    let t1 = args.train_cutoff.map_or(last - 2 * n, day_of);
    let evaluation = churn::evaluate(&tx, &histories, t1, &params)
        .context("evaluating the churn model on the held-out period")?;
    // The scores of today: fitted on the last cutoff with labels, applied at the end.
    let (model, _) = churn::fit_at(&tx, &histories, last - n, &params)
        .context("fitting the churn model for today's scores")?;
    let now = churn::dataset(&tx, &histories, last, &params);
    let mut scored: Vec<(f64, &churn::Features)> = now
        .features
        .iter()
        .map(|f| (model.probability(f), f))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let period = |p: &churn::PeriodFacts| {
        json!({"cutoff": date_text(p.cutoff), "customers": p.customers,
               "churned": p.churned, "churn_rate": p.churn_rate})
    };
    let coefficients: serde_json::Map<String, serde_json::Value> = std::iter::once("intercept")
        .chain(FEATURES)
        .zip(&model.coefficients)
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let facts = json!({
        "as_of": date_text(last),
        "horizon_days": args.horizon_days,
        "active_window_days": args.active_window_days,
        "evaluation": {
            "train": period(&evaluation.train),
            "test": period(&evaluation.test),
            "model_auc": evaluation.model_auc,
            "recency_baseline_auc": evaluation.recency_baseline_auc,
        },
        "scoring_model": {"fitted_at": date_text(last - n), "coefficients": coefficients},
    });
    let columns = [
        "customer",
        "churn_probability",
        "recency_days",
        "visits",
        "visits_last_90",
        "mean_interval_days",
        "recency_over_interval",
    ];
    let table = Rows {
        columns: &columns,
        len: scored.len(),
        row: Box::new(|i, cells| {
            let (p, f) = scored[i];
            cells.extend([
                Cell::Text(tx.name(f.customer)),
                Cell::Number(p),
                Cell::Number(f.recency_days),
                Cell::Number(f.visits),
                Cell::Number(f.visits_last_90),
                Cell::Number(f.mean_interval_days),
                Cell::Number(f.recency_over_interval),
            ])
        }),
    };
    emit(out, args.format, facts, "customers", &table)
}

#[derive(Args)]
pub struct ForecastArgs {
    #[command(flatten)]
    sales: SalesSource,
    /// Days to forecast after the last day of the data.
    #[arg(long, default_value_t = 14)]
    horizon: usize,
    /// The last this many days are held out to score the model against seasonal naive.
    #[arg(long, default_value_t = 14)]
    holdout: usize,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

pub(super) fn forecast_cmd(args: ForecastArgs, out: &mut impl Write) -> anyhow::Result<()> {
    if args.horizon == 0 || args.holdout == 0 {
        bail!("--horizon and --holdout must be at least 1");
    }
    let rows = load_sales(&args.sales)?;
    let series = daily_series(&rows);
    let evaluation = evaluate(&series, args.holdout).context("scoring the forecast")?;
    let forecasts = forecast_all(&series, args.horizon).context("forecasting")?;
    let per_series: Vec<serde_json::Value> = evaluation
        .series
        .iter()
        .map(|e| {
            json!({"station": e.station, "product": e.product,
                   "mean_litres_per_day": e.mean_litres,
                   "model_mase": e.model_mase, "seasonal_naive_mase": e.seasonal_naive_mase,
                   "model_mae_litres": e.model_mae, "seasonal_naive_mae_litres": e.seasonal_naive_mae,
                   "alpha": e.weights.alpha, "beta": e.weights.beta, "gamma": e.weights.gamma})
        })
        .collect();
    let facts = json!({
        "last_day": date_text(last_day(&rows)?),
        "horizon_days": args.horizon,
        "evaluation": {
            "holdout_days": evaluation.holdout_days,
            "series": evaluation.series.len(),
            "model_mase": evaluation.model_mase,
            "seasonal_naive_mase": evaluation.seasonal_naive_mase,
            "model_wins": evaluation.model_wins,
            "per_series": per_series,
        },
    });
    let columns = ["station", "product", "date", "litres"];
    let h = args.horizon;
    let table = Rows {
        columns: &columns,
        len: forecasts.len() * h,
        row: Box::new(|i, cells| {
            let f = &forecasts[i / h];
            cells.extend([
                Cell::Text(&f.station),
                Cell::Text(&f.product),
                Cell::Owned(date_text(f.first_day + (i % h) as Day)),
                Cell::Number(f.litres[i % h]),
            ])
        }),
    };
    emit(out, args.format, facts, "forecast", &table)
}

/// What a report shows.
#[derive(Clone, Copy, ValueEnum)]
pub enum ReportKind {
    Station,
    Region,
    Product,
    Day,
    Hour,
    Payment,
    /// Members against walk-ins.
    Members,
    /// Retention by the month of the first purchase.
    Cohorts,
}

#[derive(Args)]
pub struct ReportsArgs {
    #[command(flatten)]
    sales: SalesSource,
    #[arg(long, value_enum, default_value = "station")]
    by: ReportKind,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

pub(super) fn reports_cmd(args: ReportsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let rows = load_sales(&args.sales)?;
    let dimension = match args.by {
        ReportKind::Station => Dimension::Station,
        ReportKind::Region => Dimension::Region,
        ReportKind::Product => Dimension::Product,
        ReportKind::Day => Dimension::Day,
        ReportKind::Hour => Dimension::Hour,
        ReportKind::Payment => Dimension::Payment,
        ReportKind::Members => {
            let s = member_share(&rows);
            let facts = json!({
                "member_share_lines": s.member_share_lines,
                "member_share_net": s.member_share_net,
                "member_share_volume": s.member_share_volume,
            });
            let groups = [("members", &s.members), ("walk_ins", &s.walk_ins)];
            let columns = ["group", "lines", "net_fen", "volume_ml", "discount_fen"];
            let table = Rows {
                columns: &columns,
                len: 2,
                row: Box::new(|i, cells| {
                    let (name, t) = groups[i];
                    cells.extend([
                        Cell::Text(name),
                        Cell::Integer(t.lines as i64),
                        Cell::Integer(t.net_fen),
                        Cell::Integer(t.volume_ml),
                        Cell::Integer(t.discount_fen),
                    ])
                }),
            };
            return emit(out, args.format, facts, "groups", &table);
        }
        ReportKind::Cohorts => {
            let cohorts = cohort_retention(&rows);
            let months = cohorts.first().map_or(0, |c| c.retention.len());
            let names: Vec<String> = ["cohort".to_owned(), "customers".to_owned()]
                .into_iter()
                .chain((0..months).map(|k| format!("m{k}")))
                .collect();
            let columns: Vec<&str> = names.iter().map(String::as_str).collect();
            let table = Rows {
                columns: &columns,
                len: cohorts.len(),
                row: Box::new(|i, cells| {
                    let c = &cohorts[i];
                    cells.push(Cell::Text(&c.cohort));
                    cells.push(Cell::Integer(c.customers as i64));
                    for k in 0..months {
                        cells.push(opt_number(c.retention.get(k).copied()));
                    }
                }),
            };
            let facts = json!({"cohort": "month of the first purchase",
                               "mK": "share of the cohort buying K months later"});
            return emit(out, args.format, facts, "cohorts", &table);
        }
    };
    let groups = sales_by(&rows, dimension);
    let total: i64 = groups.iter().map(|g| g.totals.net_fen).sum();
    let facts = json!({"by": dimension.name(), "lines": rows.len(), "net_fen": total});
    let columns = [
        dimension.name(),
        "lines",
        "net_fen",
        "volume_ml",
        "discount_fen",
        "net_share",
    ];
    let table = Rows {
        columns: &columns,
        len: groups.len(),
        row: Box::new(|i, cells| {
            let g = &groups[i];
            cells.extend([
                Cell::Text(&g.key),
                Cell::Integer(g.totals.lines as i64),
                Cell::Integer(g.totals.net_fen),
                Cell::Integer(g.totals.volume_ml),
                Cell::Integer(g.totals.discount_fen),
                Cell::Number(g.net_share),
            ])
        }),
    };
    emit(out, args.format, facts, "groups", &table)
}

#[derive(Args)]
pub struct PriceArgs {
    #[command(flatten)]
    sales: SalesSource,
    /// A day a price rise takes effect (repeat for each).
    #[arg(long = "rise")]
    rises: Vec<NaiveDate>,
    /// Find the rise days in the prices per litre of this product instead.
    #[arg(long)]
    rises_from_product: Option<String>,
    /// Days before a rise that count as pre-rise.
    #[arg(long, default_value_t = PriceParams::default().window_days)]
    window_days: u32,
    /// A pre-rise filler needs at least this many fill days …
    #[arg(long, default_value_t = PriceParams::default().min_fills)]
    min_fills: u32,
    /// … this many of them pre-rise …
    #[arg(long, default_value_t = PriceParams::default().min_pre_rise_fills)]
    min_pre_rise_fills: u32,
    /// … and this lift.
    #[arg(long, default_value_t = PriceParams::default().min_lift)]
    min_lift: f64,
    /// Discount-only needs at least this many purchases …
    #[arg(long, default_value_t = PriceParams::default().min_purchases)]
    min_purchases: u32,
    /// … and this share of them discounted.
    #[arg(long, default_value_t = PriceParams::default().min_discount_share)]
    min_discount_share: f64,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

pub(super) fn price_cmd(args: PriceArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let rows = load_sales(&args.sales)?;
    let mut rises: Vec<Day> = args.rises.iter().copied().map(day_of).collect();
    if let Some(product) = &args.rises_from_product {
        rises.extend(infer_rises(&rows, product));
    }
    rises.sort_unstable();
    rises.dedup();
    if rises.is_empty() {
        bail!("no price rise: give --rise DATE or --rises-from-product PRODUCT");
    }
    let params = PriceParams {
        window_days: args.window_days,
        min_fills: args.min_fills,
        min_pre_rise_fills: args.min_pre_rise_fills,
        min_lift: args.min_lift,
        min_purchases: args.min_purchases,
        min_discount_share: args.min_discount_share,
    };
    let customers = price_sensitivity(&rows, &rises, &params);
    let responses: Vec<serde_json::Value> = rise_response(&rows, &rises, params.window_days)
        .iter()
        .map(|r| {
            json!({"rise": date_text(r.rise),
                   "pre_rise_litres_per_day": r.pre_rise_litres_per_day,
                   "baseline_litres_per_day": r.baseline_litres_per_day, "lift": r.lift})
        })
        .collect();
    let fillers = customers.iter().filter(|c| c.pre_rise_filler).count();
    let discount_only = customers.iter().filter(|c| c.discount_only).count();
    let facts = json!({
        "rises": rises.iter().map(|&d| date_text(d)).collect::<Vec<_>>(),
        "params": params,
        "members": customers.len(),
        "pre_rise_fillers": fillers,
        "pre_rise_filler_share": share(fillers, customers.len()),
        "discount_only": discount_only,
        "network_response": responses,
    });
    let columns = [
        "customer",
        "fill_days",
        "pre_rise_fill_days",
        "base_rate",
        "lift",
        "purchases",
        "discounted_purchases",
        "discount_share",
        "pre_rise_filler",
        "discount_only",
    ];
    let table = Rows {
        columns: &columns,
        len: customers.len(),
        row: Box::new(|i, cells| {
            let c = &customers[i];
            cells.extend([
                Cell::Text(&c.customer),
                Cell::Integer(i64::from(c.fill_days)),
                Cell::Integer(i64::from(c.pre_rise_fill_days)),
                Cell::Number(c.base_rate),
                opt_number(c.lift),
                Cell::Integer(i64::from(c.purchases)),
                Cell::Integer(i64::from(c.discounted_purchases)),
                Cell::Number(c.discount_share),
                Cell::Text(if c.pre_rise_filler { "true" } else { "false" }),
                Cell::Text(if c.discount_only { "true" } else { "false" }),
            ])
        }),
    };
    emit(out, args.format, facts, "customers", &table)
}

#[derive(Args)]
pub struct ExportParquetArgs {
    #[command(flatten)]
    sales: SalesSource,
    /// The directory to write `sales.parquet` and `customers.parquet` into (created
    /// when missing).
    #[arg(long)]
    out_dir: PathBuf,
    /// The day the customer metrics look from; the last day of the data by default.
    #[arg(long)]
    as_of: Option<NaiveDate>,
}

pub(super) fn export_parquet_cmd(
    args: ExportParquetArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let rows = load_sales(&args.sales)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let write = |name: &str, columns: Vec<Column>| -> anyhow::Result<PathBuf> {
        let path = args.out_dir.join(name);
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        write_columns(std::io::BufWriter::new(file), &columns)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let sales_path = write("sales.parquet", sales_columns(&rows))?;
    let tx = to_transactions(&rows);
    let as_of = args.as_of.map_or(last_day(&rows)?, day_of);
    let rfm_rows = rfm(&tx, &Histories::new(&tx), as_of);
    let clv = clv_report(
        &tx,
        &ClvOptions {
            calibration_end: as_of,
            period: Period::Week,
            horizon: 52,
            discount_rate: 0.0,
        },
    );
    if let Err(e) = &clv {
        eprintln!("CLV columns left empty: {e}");
    }
    let customers_path = write(
        "customers.parquet",
        customer_columns(&tx, &rfm_rows, clv.as_ref().ok()),
    )?;
    writeln!(
        out,
        "wrote {} sales lines to {} and {} customers (RFM as of {}, CLV over 52 weeks) to {}",
        rows.len(),
        sales_path.display(),
        rfm_rows.len(),
        date_text(as_of),
        customers_path.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sales file in the plain layout: 400 members on regular cycles over 300 days,
    /// a third of whom stop for good on some day, and a walk-in every day, at two
    /// stations and two grades.
    fn sales_file(dir: &Path) -> PathBuf {
        let mut text =
            String::from("time,station,region,product,net_fen,volume_ml,payment,customer\n");
        let mut state = 7u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let mut lines = Vec::new();
        for c in 0..400 {
            let interval = 4.0 + 40.0 * uniform();
            let stop = if c % 3 == 0 { uniform() * 300.0 } else { 1e9 };
            let station = if c % 2 == 0 { "BJ001" } else { "TJ001" };
            let product = if c % 5 == 0 {
                "DIESEL_0"
            } else {
                "GASOLINE_92"
            };
            let mut t = uniform() * interval;
            while t < 300.0_f64.min(stop) {
                let day = start + chrono::Duration::days(t as i64);
                lines.push((day, station, product, format!("m{c}")));
                t += interval * (0.8 + 0.4 * uniform());
            }
        }
        for d in 0..300 {
            let day = start + chrono::Duration::days(d);
            lines.push((day, "BJ001", "GASOLINE_92", String::new()));
        }
        lines.sort();
        for (day, station, product, customer) in lines {
            let region = &station[..2];
            text.push_str(&format!(
                "{day} 08:30,{station},{region},{product},28000,40000,card,{customer}\n"
            ));
        }
        let path = dir.join("sales.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("forecourt-sales-cmd-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn churn_reports_both_aucs_and_scores_every_active_customer() {
        let dir = temp_dir("churn");
        let mut out = Vec::new();
        churn_cmd(
            ChurnArgs {
                sales: SalesSource {
                    sales_csv: Some(sales_file(&dir)),
                    db: None,
                },
                horizon_days: 60,
                active_window_days: 180,
                l2: 1.0,
                train_cutoff: None,
                format: Format::Json,
            },
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let e = &v["evaluation"];
        // The last day is 2025-10-27: training at it minus twice 60 days.
        assert_eq!(v["as_of"], "2025-10-27");
        assert_eq!(e["train"]["cutoff"], "2025-06-29");
        assert_eq!(e["test"]["cutoff"], "2025-08-28");
        let model = e["model_auc"].as_f64().unwrap();
        let baseline = e["recency_baseline_auc"].as_f64().unwrap();
        assert!(model > baseline, "model {model} recency {baseline}");
        let customers = v["customers"].as_array().unwrap();
        assert!(customers.len() > 200, "{}", customers.len());
        let p: Vec<f64> = customers
            .iter()
            .map(|c| c["churn_probability"].as_f64().unwrap())
            .collect();
        assert!(p.windows(2).all(|w| w[0] >= w[1]), "sorted by risk");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn forecast_reports_and_parquet_run_on_one_file() {
        let dir = temp_dir("misc");
        let path = sales_file(&dir);
        let mut out = Vec::new();
        forecast_cmd(
            ForecastArgs {
                sales: SalesSource {
                    sales_csv: Some(path.clone()),
                    db: None,
                },
                horizon: 14,
                holdout: 14,
                format: Format::Csv,
            },
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("station,product,date,litres"));
        // Three series (BJ001 and TJ001 gasoline, BJ001 and TJ001 diesel) × 14 days.
        assert_eq!(lines.count(), 4 * 14);
        assert!(text.contains("BJ001,GASOLINE_92,2025-10-28,"));

        let mut out = Vec::new();
        reports_cmd(
            ReportsArgs {
                sales: SalesSource {
                    sales_csv: Some(path.clone()),
                    db: None,
                },
                by: ReportKind::Region,
                format: Format::Json,
            },
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let groups = v["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["region"], "BJ");
        let lines: i64 = groups.iter().map(|g| g["lines"].as_i64().unwrap()).sum();
        assert_eq!(lines, v["lines"].as_i64().unwrap());

        let mut out = Vec::new();
        reports_cmd(
            ReportsArgs {
                sales: SalesSource {
                    sales_csv: Some(path.clone()),
                    db: None,
                },
                by: ReportKind::Members,
                format: Format::Table,
            },
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let walk_ins: Vec<&str> = text
            .lines()
            .find(|l| l.trim_start().starts_with("walk_ins"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(walk_ins[..3], ["walk_ins", "300", "8400000"], "{text}");

        let out_dir = dir.join("parquet");
        let mut out = Vec::new();
        export_parquet_cmd(
            ExportParquetArgs {
                sales: SalesSource {
                    sales_csv: Some(path),
                    db: None,
                },
                out_dir: out_dir.clone(),
                as_of: None,
            },
            &mut out,
        )
        .unwrap();
        for name in ["sales.parquet", "customers.parquet"] {
            let bytes = std::fs::read(out_dir.join(name)).unwrap();
            assert!(
                bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
                "{name}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn price_needs_rises_and_counts_the_flagged() {
        let dir = temp_dir("price");
        let path = sales_file(&dir);
        let args = |rises: Vec<NaiveDate>| PriceArgs {
            sales: SalesSource {
                sales_csv: Some(path.clone()),
                db: None,
            },
            rises,
            rises_from_product: None,
            window_days: 2,
            min_fills: 8,
            min_pre_rise_fills: 3,
            min_lift: 2.0,
            min_purchases: 3,
            min_discount_share: 0.9,
            format: Format::Json,
        };
        let e = price_cmd(args(Vec::new()), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("--rise"), "{e}");
        let mut out = Vec::new();
        let rise = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        price_cmd(args(vec![rise]), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rises"], json!(["2025-03-01"]));
        // Every member with a sale (one of the 400 stopped before buying).
        assert_eq!(v["members"], 399);
        assert_eq!(v["customers"].as_array().unwrap().len(), 399);
        // Nobody here reacts to prices: no customer has three fills before one rise.
        assert_eq!(v["pre_rise_fillers"], 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

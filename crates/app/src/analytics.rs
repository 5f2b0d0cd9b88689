//! Analytics on live data (SPEC F6): RFM, ABC, lifecycle, refuel cycle, 5S, CLV,
//! churn, forecast, reports and price sensitivity over the members' sales, computed by
//! `forecourt-analytics` on request. Whole-network figures: the action is for
//! company-wide roles (admin, analyst).

use crate::access::{require, Action, Actor};
use crate::error::{AppError, AppResult};
use crate::App;
use chrono::DateTime;
use chrono::NaiveDate;
use forecourt_analytics::abc::{abc, AbcThresholds};
use forecourt_analytics::churn::{self, ChurnParams};
use forecourt_analytics::clv::{clv_report, ClvOptions};
use forecourt_analytics::error::InputError;
use forecourt_analytics::five_s::five_s;
use forecourt_analytics::forecast::{self, daily_series, forecast_all};
use forecourt_analytics::lifecycle::{lifecycle, LifecycleParams};
use forecourt_analytics::price::{infer_rises, price_sensitivity, rise_response, PriceParams};
use forecourt_analytics::refuel::{refuel_cycles, RefuelParams};
use forecourt_analytics::reports::{cohort_retention, member_share, sales_by, Dimension};
use forecourt_analytics::rfm::{rfm, Segment};
use forecourt_analytics::sales::{read_sales, SaleRow};
use forecourt_analytics::summary::{default_as_of, Histories, Period};
use forecourt_analytics::transactions::{date_of, day_of, Day, Transactions};
use serde::Deserialize;
use serde_json::{json, Value};

/// China Standard Time, the network's local time (UTC+8, no daylight saving).
const CST_OFFSET_US: i64 = 8 * 3_600_000_000;
const LIMIT_MAX: usize = 1000;

/// The members' sales as transactions: amounts in yuan net of refunds, volumes in
/// litres, days in local time; members who never bought are customers without
/// purchases.
pub fn transactions(sales: &[(String, i64, i64, i64)], never: &[String]) -> Transactions {
    let mut tx = Transactions::new(true);
    for (customer, at_us, net_fen, volume_ml) in sales {
        let local = DateTime::from_timestamp_micros(at_us + CST_OFFSET_US)
            .unwrap_or_default()
            .date_naive();
        tx.push(
            customer,
            day_of(local),
            *net_fen as f64 / 100.0,
            Some(*volume_ml as f64 / 1000.0),
        );
    }
    for customer in never {
        tx.add_customer(customer);
    }
    tx
}

#[derive(Deserialize)]
pub struct ViewQuery {
    /// The day the analysis looks from (default: the last day with a sale).
    pub as_of: Option<String>,
    #[serde(default)]
    pub offset: usize,
    pub limit: Option<usize>,
    /// CLV: last day of the calibration period (default: 90 days before `as_of`), or
    /// `as_of` to calibrate on everything.
    pub calibration_end: Option<String>,
    /// CLV: `day` or `week` (default).
    pub period: Option<String>,
    /// CLV: periods ahead (default 52).
    pub horizon: Option<u32>,
    /// reports: station, region, product, day, hour or payment (default station).
    pub by: Option<String>,
    /// price: the product whose price rises are looked for (default GASOLINE_92).
    pub product: Option<String>,
    /// `json` (default) or `csv`: every row from `offset` as CSV, for a download.
    pub format: Option<String>,
}

impl ViewQuery {
    pub fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }

    /// Rows per answer: `limit` up to 1,000 in JSON, every row in CSV.
    fn limit(&self) -> usize {
        if self.csv() {
            usize::MAX
        } else {
            self.limit.unwrap_or(100).min(LIMIT_MAX)
        }
    }
}

const VIEWS: &[&str] = &[
    "rfm",
    "abc",
    "lifecycle",
    "refuel",
    "5s",
    "clv",
    "churn",
    "forecast",
    "reports",
    "price",
];

/// Every sale of the network as analytics rows (through the sales export, so that the
/// API and `--db` read sales the same way).
async fn sale_rows(app: &App) -> AppResult<Vec<SaleRow>> {
    let mut csv = Vec::new();
    crate::export::export_sales(
        app.store(),
        &mut csv,
        &crate::export::SalesExport {
            from: None,
            to: None,
            station_code: None,
        },
        |_| {},
    )
    .await
    .map_err(AppError::internal)?;
    match read_sales(csv.as_slice()) {
        Ok(rows) => Ok(rows),
        // A network that has sold nothing yet exports a header alone (or nothing at
        // all): for a file that is an input error, here it is an empty answer.
        Err(InputError::NoRows { .. } | InputError::NoHeader) => Ok(Vec::new()),
        Err(e) => Err(AppError::internal(e)),
    }
}

/// Each station's sales per product and local day, as one row each: all the demand
/// forecast reads, summed by the database.
async fn daily_rows(app: &App) -> AppResult<Vec<SaleRow>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    Ok(app
        .store()
        .daily_line_totals(CST_OFFSET_US)
        .await?
        .into_iter()
        .map(|t| SaleRow {
            time: (epoch + chrono::Duration::days(t.day))
                .and_hms_opt(12, 0, 0)
                .expect("noon exists"),
            station: t.station,
            region: None,
            product: t.product,
            kind: t.kind,
            payment: String::new(),
            customer: None,
            net_fen: t.net_fen,
            volume_ml: t.volume_ml,
            discount_fen: 0,
        })
        .collect())
}

/// The analyses over whole sales: reports, forecast, price sensitivity.
fn sales_view(view: &str, rows: &[SaleRow], q: &ViewQuery) -> AppResult<Value> {
    let limit = q.limit();
    let Some(last) = rows.iter().map(|r| r.day()).max() else {
        // `price` counts members (none found without sales), like the member views.
        return Ok(match view {
            "price" => json!({"view": view, "customers_total": 0, "rows": []}),
            _ => json!({"view": view, "rows": []}),
        });
    };
    let mut out = json!({"view": view, "as_of": date_of(last).to_string(), "offset": q.offset});
    match view {
        "reports" => {
            let by = q.by.as_deref().unwrap_or("station");
            let dim = Dimension::parse(by).ok_or_else(|| {
                AppError::validation("by", "station, region, product, day, hour or payment")
            })?;
            out["by"] = json!(by);
            out["rows"] = json!(sales_by(rows, dim));
            out["member_share"] = json!(member_share(rows));
            out["cohorts"] = json!(cohort_retention(rows));
        }
        "forecast" => {
            let series = daily_series(rows);
            out["evaluation"] = json!(forecast::evaluate(&series, 14).ok());
            out["rows"] =
                json!(forecast_all(&series, 14).map_err(|e| AppError::validation("forecast", e))?);
        }
        _ => {
            let product = q.product.as_deref().unwrap_or("GASOLINE_92");
            let rises = infer_rises(rows, product);
            let params = PriceParams::default();
            let found = price_sensitivity(rows, &rises, &params);
            out["rises"] = json!(rises
                .iter()
                .map(|d| date_of(*d).to_string())
                .collect::<Vec<_>>());
            out["rise_response"] = json!(rise_response(rows, &rises, params.window_days));
            out["customers_total"] = json!(found.len());
            out["rows"] = json!(found.iter().skip(q.offset).take(limit).collect::<Vec<_>>());
        }
    }
    Ok(out)
}

fn date(field: &str, s: &str) -> AppResult<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| AppError::validation(field, "a date YYYY-MM-DD"))
}

/// Rows `offset..offset+limit` of a view, with each customer's id in place of its index.
fn page<T: serde::Serialize>(
    tx: &Transactions,
    rows: &[T],
    customer: impl Fn(&T) -> u32,
    q: &ViewQuery,
) -> Vec<Value> {
    let limit = q.limit();
    rows.iter()
        .skip(q.offset)
        .take(limit)
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            v["customer"] = json!(tx.name(customer(r)));
            v
        })
        .collect()
}

/// `GET /api/v1/analytics/{view}`: `rfm`, `abc`, `lifecycle`, `refuel`, `5s`, `clv`.
pub async fn view(app: &App, me: &Actor, view: String, q: ViewQuery) -> AppResult<Value> {
    require(me, Action::ViewAnalytics)?;
    if !VIEWS.contains(&view.as_str()) {
        return Err(AppError::new(
            "not_found",
            format!("no such analysis: one of {}", VIEWS.join(", ")),
        ));
    }
    if ["forecast", "reports", "price"].contains(&view.as_str()) {
        let rows = if view == "forecast" {
            daily_rows(app).await?
        } else {
            sale_rows(app).await?
        };
        let out = tokio::task::spawn_blocking(move || sales_view(&view, &rows, &q))
            .await
            .map_err(AppError::internal)??;
        return Ok(out);
    }
    let as_of_arg = q.as_of.as_deref().map(|s| date("as_of", s)).transpose()?;
    // `as_of`: calibrate on everything (a prediction, not a held-out test).
    let calibrate_to_as_of = q.calibration_end.as_deref() == Some("as_of");
    let calibration_arg = q
        .calibration_end
        .as_deref()
        .filter(|s| *s != "as_of")
        .map(|s| date("calibration_end", s))
        .transpose()?;
    let period = match q.period.as_deref() {
        None | Some("week") => Period::Week,
        Some("day") => Period::Day,
        Some(_) => return Err(AppError::validation("period", "day or week")),
    };
    let horizon = q.horizon.unwrap_or(52);
    if !(1..=520).contains(&horizon) {
        return Err(AppError::validation("horizon", "1 to 520 periods"));
    }
    let data = app.cache().member_sales(app.store()).await?;
    // The models run on a blocking thread: a million customers take seconds of CPU.
    let out = tokio::task::spawn_blocking(move || -> AppResult<Value> {
        let tx = transactions(&data.0, &data.1);
        let Some(last) = default_as_of(&tx) else {
            return Ok(json!({"view": view, "customers_total": tx.customers(), "rows": []}));
        };
        let as_of = as_of_arg.map(day_of).unwrap_or(last);
        let h = Histories::new(&tx);
        let mut out = json!({"view": view, "as_of": date_of(as_of).to_string(), "customers_total": tx.customers(), "offset": q.offset});
        match view.as_str() {
            "rfm" => {
                let rows = rfm(&tx, &h, as_of);
                let segments: Vec<Value> = Segment::ALL
                    .iter()
                    .map(|&s| json!({"segment": s.name(), "customers": rows.iter().filter(|r| r.segment == s).count()}))
                    .collect();
                out["segments"] = json!(segments);
                out["rows"] = json!(page(&tx, &rows, |r| r.customer, &q));
            }
            "abc" => {
                let r = abc(&tx, &h, as_of, AbcThresholds::default());
                out["classes"] = json!(r.classes);
                out["curve"] = json!(r.curve);
                out["rows"] = json!(page(&tx, &r.rows, |r| r.customer, &q));
            }
            "lifecycle" => {
                let rows = lifecycle(&tx, &h, as_of, &LifecycleParams::default());
                let mut stages: Vec<(String, usize)> = Vec::new();
                for r in &rows {
                    let name = r.stage.name().to_string();
                    match stages.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, k)) => *k += 1,
                        None => stages.push((name, 1)),
                    }
                }
                out["stages"] = json!(stages
                    .iter()
                    .map(|(n, k)| json!({"stage": n, "customers": k}))
                    .collect::<Vec<_>>());
                out["rows"] = json!(page(&tx, &rows, |r| r.customer, &q));
            }
            "refuel" => {
                let rows = refuel_cycles(&tx, &h, as_of, &RefuelParams::default());
                out["rows"] = json!(page(&tx, &rows, |r| r.customer, &q));
            }
            "5s" => {
                let rows = five_s(&tx, &h, as_of);
                out["rows"] = json!(page(&tx, &rows, |r| r.customer, &q));
            }
            "churn" => {
                let params = ChurnParams::default();
                let n = params.horizon_days as Day;
                let evaluation = churn::evaluate(&tx, &h, as_of - 2 * n, &params).ok();
                let (model, _) = churn::fit_at(&tx, &h, as_of - n, &params)
                    .map_err(|e| AppError::validation("as_of", format!("too little history for the churn model: {e}")))?;
                let now = churn::dataset(&tx, &h, as_of, &params);
                let mut scored: Vec<(f64, &churn::Features)> = now
                    .features
                    .iter()
                    .map(|f| (model.probability(f), f))
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                out["evaluation"] = json!(evaluation.map(|e| json!({"model_auc": e.model_auc, "recency_baseline_auc": e.recency_baseline_auc, "test_churn_rate": e.test.churn_rate})));
                out["horizon_days"] = json!(params.horizon_days);
                let limit = q.limit();
                out["rows"] = json!(scored
                    .iter()
                    .skip(q.offset)
                    .take(limit)
                    .map(|(p, f)| json!({"customer": tx.name(f.customer), "churn_probability": p, "recency_days": f.recency_days, "visits": f.visits, "mean_interval_days": f.mean_interval_days}))
                    .collect::<Vec<_>>());
            }
            _ => {
                let end = match calibration_arg {
                    Some(d) => day_of(d),
                    None if calibrate_to_as_of => as_of,
                    None => as_of.saturating_sub(90),
                };
                let options = ClvOptions {
                    calibration_end: end,
                    period,
                    horizon,
                    discount_rate: 0.0,
                };
                let r = clv_report(&tx, &options)
                    .map_err(|e| AppError::validation("calibration_end", e))?;
                let s = &r.summary;
                out["bgnbd"] = json!({"r": r.bgnbd.params.r, "alpha": r.bgnbd.params.alpha, "a": r.bgnbd.params.a, "b": r.bgnbd.params.b, "log_likelihood": r.bgnbd.log_likelihood});
                out["gamma_gamma"] = json!({"p": r.gamma_gamma.params.p, "q": r.gamma_gamma.params.q, "gamma": r.gamma_gamma.params.gamma});
                out["calibration_end"] = json!(date_of(end).to_string());
                let limit = q.limit();
                // The most valuable customers first.
                let mut order: Vec<usize> = (0..s.len()).collect();
                order.sort_by(|&a, &b| r.expected_value[b].total_cmp(&r.expected_value[a]));
                out["rows"] = json!(order
                    .iter()
                    .skip(q.offset)
                    .take(limit)
                    .map(|&i| json!({
                        "customer": tx.name(s.customer[i]), "frequency": s.frequency[i], "recency": s.recency[i], "T": s.t[i],
                        "monetary": s.monetary[i], "expected_transactions": r.expected_transactions[i],
                        "p_alive": r.p_alive[i], "expected_value": r.expected_value[i],
                    }))
                    .collect::<Vec<_>>());
            }
        }
        Ok(out)
    })
    .await
    .map_err(AppError::internal)??;
    Ok(out)
}

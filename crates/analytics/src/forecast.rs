//! Daily fuel demand per station and product, forecast for the next days (14 by
//! default, for inventory planning), and the forecast's error on held-out days against
//! the seasonal-naive forecast.
//!
//! The model is Holt-Winters with additive weekly seasonality and a damped trend
//! (damping φ = 0.9). Its smoothing weights α (level), β (trend) and γ (season) are
//! chosen from a grid by the smallest sum of squared one-step-ahead errors over the
//! fitted days after the first two weeks. A forecast below zero is cut to zero.
//!
//! The seasonal-naive forecast of a day is the same weekday of the last week before the
//! forecast. MASE (Hyndman & Koehler 2006) divides a forecast's mean absolute error on
//! the held-out days by the mean absolute error of the one-step seasonal-naive forecast
//! in the fitted days, mean |y_t − y_{t−7}|: below 1 is better than that in-sample naive
//! forecast, and the seasonal-naive forecast itself over 14 days usually scores above 1.

use crate::error::FitError;
use crate::sales::SaleRow;
use crate::transactions::Day;
use serde::Serialize;
use std::collections::BTreeMap;

/// The season's length: a week of days.
pub const SEASON: usize = 7;
/// The trend's damping per day.
pub const DAMPING: f64 = 0.9;

/// Daily litres of one product at one station.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub station: String,
    pub product: String,
    /// The day of `litres[0]`.
    pub start: Day,
    pub litres: Vec<f64>,
}

/// The daily fuel volume (rows with a volume) of every station and product, in litres,
/// over the same days: from the first to the last day of any sale, days without a sale
/// counting 0. Ordered by station, then product.
pub fn daily_series(rows: &[SaleRow]) -> Vec<Series> {
    let Some(first) = rows.iter().map(SaleRow::day).min() else {
        return Vec::new();
    };
    let last = rows.iter().map(SaleRow::day).max().unwrap_or(first);
    let days = (last - first + 1) as usize;
    let mut series: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.is_fuel()) {
        let s = series
            .entry((r.station.as_str(), r.product.as_str()))
            .or_insert_with(|| vec![0.0; days]);
        s[(r.day() - first) as usize] += r.volume_ml as f64 / 1000.0;
    }
    series
        .into_iter()
        .map(|((station, product), litres)| Series {
            station: station.to_owned(),
            product: product.to_owned(),
            start: first,
            litres,
        })
        .collect()
}

/// Holt-Winters weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HoltWinters {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
}

/// The state after a pass over the data, and the one-step squared errors.
struct State {
    level: f64,
    trend: f64,
    /// The last season's effects, `season[t % SEASON]` for day t.
    season: [f64; SEASON],
    days: usize,
    sse: f64,
}

impl HoltWinters {
    /// Runs the recursions over `y` (at least two seasons long).
    fn run(&self, y: &[f64]) -> State {
        let m = SEASON;
        // Start: the level is the mean of the first two weeks, the trend the change of
        // the weekly mean between them per day, the season the mean deviation of each
        // weekday from its week's mean.
        let w1 = y[..m].iter().sum::<f64>() / m as f64;
        let w2 = y[m..2 * m].iter().sum::<f64>() / m as f64;
        let mut season = [0.0; SEASON];
        for (i, s) in season.iter_mut().enumerate() {
            *s = 0.5 * ((y[i] - w1) + (y[m + i] - w2));
        }
        let mut level = w1;
        let mut trend = (w2 - w1) / m as f64;
        let mut sse = 0.0;
        for (t, &obs) in y.iter().enumerate() {
            let s = season[t % m];
            let predicted = level + DAMPING * trend + s;
            if t >= 2 * m {
                sse += (obs - predicted).powi(2);
            }
            let new_level = self.alpha * (obs - s) + (1.0 - self.alpha) * (level + DAMPING * trend);
            trend = self.beta * (new_level - level) + (1.0 - self.beta) * DAMPING * trend;
            level = new_level;
            season[t % m] = self.gamma * (obs - level) + (1.0 - self.gamma) * s;
        }
        State {
            level,
            trend,
            season,
            days: y.len(),
            sse,
        }
    }

    /// The weights of the grid with the smallest one-step squared error on `y`.
    pub fn fit(y: &[f64]) -> Result<HoltWinters, FitError> {
        if y.len() < 3 * SEASON {
            return Err(FitError::BadArgument(format!(
                "{} days: at least {} are needed to fit a weekly season",
                y.len(),
                3 * SEASON
            )));
        }
        let mut best = (f64::INFINITY, None);
        for alpha in [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8] {
            for beta in [0.0, 0.01, 0.05, 0.15] {
                for gamma in [0.01, 0.05, 0.1, 0.2, 0.4] {
                    let hw = HoltWinters { alpha, beta, gamma };
                    let sse = hw.run(y).sse;
                    if sse < best.0 {
                        best = (sse, Some(hw));
                    }
                }
            }
        }
        best.1
            .ok_or_else(|| FitError::NotConverged("no weights gave a finite error".into()))
    }

    /// The forecast of the `horizon` days after `y`, each at least 0.
    pub fn forecast(&self, y: &[f64], horizon: usize) -> Vec<f64> {
        let state = self.run(y);
        let mut damped = 0.0;
        let mut factor = 1.0;
        (1..=horizon)
            .map(|h| {
                factor *= DAMPING;
                damped += factor;
                let t = state.days + h - 1;
                (state.level + damped * state.trend + state.season[t % SEASON]).max(0.0)
            })
            .collect()
    }
}

/// The seasonal-naive forecast of the `horizon` days after `y`: each day the same
/// weekday of the last week of `y`.
pub fn seasonal_naive(y: &[f64], horizon: usize) -> Vec<f64> {
    let n = y.len();
    (0..horizon).map(|h| y[n - SEASON + h % SEASON]).collect()
}

/// The MASE scale of `y`: the mean absolute one-step seasonal-naive error in it.
pub fn mase_scale(y: &[f64]) -> f64 {
    let diffs: Vec<f64> = y
        .windows(SEASON + 1)
        .map(|w| (w[SEASON] - w[0]).abs())
        .collect();
    if diffs.is_empty() {
        return f64::NAN;
    }
    diffs.iter().sum::<f64>() / diffs.len() as f64
}

fn mae(forecast: &[f64], actual: &[f64]) -> f64 {
    forecast
        .iter()
        .zip(actual)
        .map(|(f, a)| (f - a).abs())
        .sum::<f64>()
        / actual.len().max(1) as f64
}

/// One series scored on its last days.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesEvaluation {
    pub station: String,
    pub product: String,
    pub weights: HoltWinters,
    /// Mean litres a day in the held-out days.
    pub mean_litres: f64,
    pub model_mae: f64,
    pub seasonal_naive_mae: f64,
    pub model_mase: f64,
    pub seasonal_naive_mase: f64,
}

/// All series scored on their last days.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub holdout_days: usize,
    pub series: Vec<SeriesEvaluation>,
    /// Means over the series (each series weighs the same).
    pub model_mase: f64,
    pub seasonal_naive_mase: f64,
    /// Series where the model's error is below the seasonal-naive one.
    pub model_wins: usize,
}

/// Fits each series on all but its last `holdout` days and scores the forecast of those
/// against the seasonal-naive forecast. Series too short to fit, or flat (scale 0), are
/// left out.
pub fn evaluate(series: &[Series], holdout: usize) -> Result<Evaluation, FitError> {
    let mut out = Vec::new();
    for s in series {
        if s.litres.len() < holdout + 3 * SEASON {
            continue;
        }
        let (train, test) = s.litres.split_at(s.litres.len() - holdout);
        let scale = mase_scale(train);
        if scale.is_nan() || scale <= 0.0 {
            continue;
        }
        let weights = HoltWinters::fit(train)?;
        let model_mae = mae(&weights.forecast(train, holdout), test);
        let naive_mae = mae(&seasonal_naive(train, holdout), test);
        out.push(SeriesEvaluation {
            station: s.station.clone(),
            product: s.product.clone(),
            weights,
            mean_litres: test.iter().sum::<f64>() / holdout as f64,
            model_mae,
            seasonal_naive_mae: naive_mae,
            model_mase: model_mae / scale,
            seasonal_naive_mase: naive_mae / scale,
        });
    }
    if out.is_empty() {
        return Err(FitError::BadArgument(format!(
            "no series is long enough: {} days are needed",
            holdout + 3 * SEASON
        )));
    }
    let n = out.len() as f64;
    Ok(Evaluation {
        holdout_days: holdout,
        model_mase: out.iter().map(|e| e.model_mase).sum::<f64>() / n,
        seasonal_naive_mase: out.iter().map(|e| e.seasonal_naive_mase).sum::<f64>() / n,
        model_wins: out
            .iter()
            .filter(|e| e.model_mae < e.seasonal_naive_mae)
            .count(),
        series: out,
    })
}

/// The forecast of one series for the days after its last.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesForecast {
    pub station: String,
    pub product: String,
    pub weights: HoltWinters,
    /// The first forecast day (the day after the data).
    pub first_day: Day,
    pub litres: Vec<f64>,
}

/// Fits each series on all its days and forecasts the next `horizon`.
pub fn forecast_all(series: &[Series], horizon: usize) -> Result<Vec<SeriesForecast>, FitError> {
    series
        .iter()
        .filter(|s| s.litres.len() >= 3 * SEASON)
        .map(|s| {
            let weights = HoltWinters::fit(&s.litres)?;
            Ok(SeriesForecast {
                station: s.station.clone(),
                product: s.product.clone(),
                weights,
                first_day: s.start + s.litres.len() as Day,
                litres: weights.forecast(&s.litres, horizon),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lcg(u64);
    impl Lcg {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        /// A roughly normal draw (the sum of 12 uniforms, centred).
        fn normal(&mut self) -> f64 {
            (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
        }
    }

    const WEEK: [f64; 7] = [1.1, 1.0, 1.0, 1.05, 1.3, 0.8, 0.75];

    fn noisy_weekly(days: usize, level: f64, noise: f64, seed: u64) -> Vec<f64> {
        let mut rng = Lcg(seed);
        (0..days)
            .map(|t| (level * WEEK[t % 7] + noise * rng.normal()).max(0.0))
            .collect()
    }

    #[test]
    fn a_clean_weekly_pattern_is_forecast_exactly() {
        let y: Vec<f64> = (0..70).map(|t| 1000.0 * WEEK[t % 7]).collect();
        let hw = HoltWinters::fit(&y).unwrap();
        let f = hw.forecast(&y, 14);
        for (h, v) in f.iter().enumerate() {
            assert!((v - 1000.0 * WEEK[(70 + h) % 7]).abs() < 1e-6, "{h}: {v}");
        }
        assert_eq!(
            seasonal_naive(&y, 14),
            f.iter().map(|v| v.round()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn on_noisy_demand_the_model_beats_seasonal_naive() {
        let mut series = Vec::new();
        for k in 0..20 {
            series.push(Series {
                station: format!("S{k:02}"),
                product: "GASOLINE_92".into(),
                start: 0,
                litres: noisy_weekly(200, 2000.0 + 100.0 * k as f64, 250.0, k + 1),
            });
        }
        let e = evaluate(&series, 14).unwrap();
        assert_eq!(e.series.len(), 20);
        assert!(
            e.model_mase < 0.85 * e.seasonal_naive_mase,
            "model {} naive {}",
            e.model_mase,
            e.seasonal_naive_mase
        );
        assert!(e.model_wins >= 15, "{}", e.model_wins);
    }

    #[test]
    fn the_mase_scale_is_the_in_sample_seasonal_naive_error() {
        let y: Vec<f64> = (0..21).map(|t| t as f64).collect();
        // Every y_t − y_{t−7} is 7.
        assert_eq!(mase_scale(&y), 7.0);
        assert!(mase_scale(&y[..7]).is_nan());
    }

    #[test]
    fn series_are_daily_totals_per_station_and_product() {
        let text = "time,station,product,net_fen,volume_ml\n\
                    2024-01-01 08:00,S1,G92,1,1500\n\
                    2024-01-01 09:00,S1,G92,1,500\n\
                    2024-01-03 09:00,S1,G92,1,1000\n\
                    2024-01-02 09:00,S2,D0,1,4000\n\
                    2024-01-02 10:00,S2,WATER,1,0\n";
        let rows = crate::sales::read_sales(text.as_bytes()).unwrap();
        let s = daily_series(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].station.as_str(), s[0].product.as_str()),
            ("S1", "G92")
        );
        assert_eq!(s[0].litres, vec![2.0, 0.0, 1.0]);
        assert_eq!(s[1].litres, vec![0.0, 4.0, 0.0]);
        assert!(evaluate(&s, 14).is_err(), "three days are too few");
    }

    #[test]
    fn forecasts_start_the_day_after_the_data_and_are_never_negative() {
        let y: Vec<f64> = (0..60)
            .map(|t| {
                if t % 7 == 6 {
                    0.0
                } else {
                    50.0 - t as f64 * 0.8
                }
            })
            .collect();
        let s = Series {
            station: "S".into(),
            product: "P".into(),
            start: 100,
            litres: y,
        };
        let f = forecast_all(&[s], 14).unwrap();
        assert_eq!(f[0].first_day, 160);
        assert_eq!(f[0].litres.len(), 14);
        assert!(f[0].litres.iter().all(|&v| v >= 0.0));
    }
}

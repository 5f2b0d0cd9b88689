//! Churn risk: the probability that a customer makes no purchase in the next N days,
//! from a logistic regression on features of their history, with its quality measured
//! on a later period against a recency-only baseline.
//!
//! At a cutoff day T, every customer with a visit (a purchase day) in the
//! `active_window_days` up to T is described by [`FEATURES`] computed from the visits
//! up to T only, and is labelled churned when they make no purchase in (T, T + N].
//! [`evaluate`] fits the model at T1 (labels from (T1, T1 + N]) and scores it at
//! T2 = T1 + N (labels from (T2, T2 + N]), data the fit never saw, against scoring by
//! recency alone. The AUC is the Mann–Whitney statistic: the probability that a churner
//! drawn at random scores above a stayer drawn at random, ties counting one half.

use crate::error::FitError;
use crate::summary::{visits_until, Histories, Visit};
use crate::transactions::{Day, Transactions};
use serde::Serialize;

/// The features, in the order of [`Features::values`] and the coefficients.
pub const FEATURES: [&str; 11] = [
    "recency_days",
    "log_recency",
    "log_visits",
    "log_monetary",
    "tenure_days",
    "mean_interval_days",
    "interval_cv",
    "recency_over_interval",
    "visits_last_90",
    "visits_prior_90",
    "trend_90",
];

#[derive(Debug, Clone, Copy)]
pub struct ChurnParams {
    /// N: churned means no purchase in the N days after the cutoff (default 60).
    pub horizon_days: u32,
    /// Only customers with a visit in this many days up to the cutoff are scored
    /// (default 180): those gone for longer are lost, not at risk.
    pub active_window_days: u32,
    /// The L2 penalty on the standardised coefficients (default 1.0; not on the
    /// intercept).
    pub l2: f64,
}

impl Default for ChurnParams {
    fn default() -> Self {
        ChurnParams {
            horizon_days: 60,
            active_window_days: 180,
            l2: 1.0,
        }
    }
}

/// A customer's features at a cutoff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    pub customer: u32,
    /// Days from the last visit to the cutoff.
    pub recency_days: f64,
    pub visits: f64,
    pub monetary: f64,
    /// Days from the first visit to the cutoff.
    pub tenure_days: f64,
    /// Mean days between visits; the tenure when there is one visit.
    pub mean_interval_days: f64,
    /// Standard deviation over mean of the intervals; 0 with fewer than two.
    pub interval_cv: f64,
    /// Recency over the median interval (the typical one; the tenure with one visit).
    pub recency_over_interval: f64,
    /// Visits in the 90 days up to the cutoff, and in the 90 days before those.
    pub visits_last_90: f64,
    pub visits_prior_90: f64,
}

impl Features {
    /// The values of [`FEATURES`] in order (some transformed: logs of counts and amounts,
    /// a trend in [−1, 1]).
    pub fn values(&self) -> [f64; FEATURES.len()] {
        let trend = (self.visits_last_90 - self.visits_prior_90)
            / (self.visits_last_90 + self.visits_prior_90).max(1.0);
        [
            self.recency_days,
            (1.0 + self.recency_days).ln(),
            self.visits.ln_1p(),
            self.monetary.max(0.0).ln_1p(),
            self.tenure_days,
            self.mean_interval_days,
            self.interval_cv,
            self.recency_over_interval.min(20.0),
            self.visits_last_90,
            self.visits_prior_90,
            trend,
        ]
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The features of one customer from their visits up to the cutoff (not empty).
fn features_of(customer: u32, visits: &[Visit], cutoff: Day) -> Features {
    let first = visits[0].day;
    let last = visits[visits.len() - 1].day;
    let tenure = f64::from(cutoff - first);
    let recency = f64::from(cutoff - last);
    let mut intervals: Vec<f64> = visits
        .windows(2)
        .map(|w| f64::from(w[1].day - w[0].day))
        .collect();
    let (mean, cv) = if intervals.is_empty() {
        (tenure.max(1.0), 0.0)
    } else {
        let n = intervals.len() as f64;
        let mean = intervals.iter().sum::<f64>() / n;
        let var = intervals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, if mean > 0.0 { var.sqrt() / mean } else { 0.0 })
    };
    let typical = if intervals.is_empty() {
        tenure.max(1.0)
    } else {
        median(&mut intervals).max(1.0)
    };
    let count_in = |from: Day, to: Day| {
        visits
            .iter()
            .filter(|v| v.day > from && v.day <= to)
            .count() as f64
    };
    Features {
        customer,
        recency_days: recency,
        visits: visits.len() as f64,
        monetary: visits.iter().map(|v| v.amount).sum(),
        tenure_days: tenure,
        mean_interval_days: mean,
        interval_cv: cv,
        recency_over_interval: recency / typical,
        visits_last_90: count_in(cutoff - 90, cutoff),
        visits_prior_90: count_in(cutoff - 180, cutoff - 90),
    }
}

/// The customers at a cutoff: their features, and whether they churned (None when the
/// data do not reach the end of the horizon, i.e. for scoring now).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub cutoff: Day,
    pub features: Vec<Features>,
    pub churned: Option<Vec<bool>>,
}

/// The customers active in the window up to `cutoff`, with labels when the data
/// reach `cutoff + horizon` (the last purchase day in the data is at or after it).
pub fn dataset(
    tx: &Transactions,
    histories: &Histories,
    cutoff: Day,
    params: &ChurnParams,
) -> Dataset {
    let last_day = tx.day_range().map_or(Day::MIN, |(_, l)| l);
    let horizon_end = cutoff + params.horizon_days as Day;
    let labelled = last_day >= horizon_end;
    let mut features = Vec::new();
    let mut churned = Vec::new();
    let mut visits = Vec::new();
    for c in 0..histories.customers() as u32 {
        let history = histories.of(c);
        visits_until(tx, history, cutoff, &mut visits);
        let Some(last) = visits.last() else { continue };
        if cutoff - last.day >= params.active_window_days as Day {
            continue;
        }
        features.push(features_of(c, &visits, cutoff));
        if labelled {
            let came_back = history.iter().any(|&i| {
                let d = tx.day[i as usize];
                d > cutoff && d <= horizon_end
            });
            churned.push(!came_back);
        }
    }
    Dataset {
        cutoff,
        features,
        churned: labelled.then_some(churned),
    }
}

/// A fitted logistic regression on standardised features.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnModel {
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    /// The intercept, then one coefficient per feature (on the standardised scale).
    pub coefficients: Vec<f64>,
    pub iterations: u32,
}

impl ChurnModel {
    /// The probability of churn of a customer.
    pub fn probability(&self, f: &Features) -> f64 {
        let x = f.values();
        let mut z = self.coefficients[0];
        for (j, v) in x.iter().enumerate() {
            z += self.coefficients[j + 1] * (v - self.means[j]) / self.scales[j];
        }
        sigmoid(z)
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Fits a logistic regression to rows `x` and labels `y` by Newton's method
/// (iteratively reweighted least squares) with an L2 penalty `l2` on all coefficients
/// but the intercept. The features are standardised first (a constant one gets scale 1).
pub fn fit_logistic(x: &[Vec<f64>], y: &[bool], l2: f64) -> Result<ChurnModel, FitError> {
    let n = x.len();
    if n == 0 {
        return Err(FitError::NoCustomers);
    }
    if y.len() != n {
        return Err(FitError::Lengths(format!("{n} rows, {} labels", y.len())));
    }
    if y.iter().all(|&v| v) || y.iter().all(|&v| !v) {
        return Err(FitError::BadArgument(
            "every customer has the same label: nothing to learn".into(),
        ));
    }
    let k = x[0].len();
    let mut means = vec![0.0; k];
    let mut scales = vec![0.0; k];
    for row in x {
        for j in 0..k {
            means[j] += row[j] / n as f64;
        }
    }
    for row in x {
        for j in 0..k {
            scales[j] += (row[j] - means[j]).powi(2) / n as f64;
        }
    }
    for s in &mut scales {
        *s = if *s > 1e-24 { s.sqrt() } else { 1.0 };
    }
    // The design matrix with a leading column of ones.
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            std::iter::once(1.0)
                .chain((0..k).map(|j| (row[j] - means[j]) / scales[j]))
                .collect()
        })
        .collect();
    let p = k + 1;
    let mut beta = vec![0.0; p];
    let rate = y.iter().filter(|&&v| v).count() as f64 / n as f64;
    beta[0] = (rate / (1.0 - rate)).ln();
    let mut iterations = 0;
    for _ in 0..100 {
        iterations += 1;
        let mut grad = vec![0.0; p];
        let mut hess = vec![vec![0.0; p]; p];
        for (row, &label) in z.iter().zip(y) {
            let eta: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let mu = sigmoid(eta);
            let w = (mu * (1.0 - mu)).max(1e-12);
            let r = f64::from(u8::from(label)) - mu;
            for a in 0..p {
                grad[a] += r * row[a];
                let wa = w * row[a];
                for b in 0..=a {
                    hess[a][b] += wa * row[b];
                }
            }
        }
        for a in 1..p {
            grad[a] -= l2 * beta[a];
            hess[a][a] += l2;
        }
        for a in 0..p {
            let (upper, lower) = hess.split_at_mut(a);
            for (b, row) in upper.iter_mut().enumerate() {
                row[a] = lower[0][b];
            }
        }
        let step = solve(hess, grad).ok_or_else(|| {
            FitError::NotConverged("the Hessian is singular (features collinear)".into())
        })?;
        let size: f64 = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
        for (b, s) in beta.iter_mut().zip(&step) {
            *b += s;
        }
        if !beta.iter().all(|b| b.is_finite()) {
            return Err(FitError::NotConverged("the coefficients diverged".into()));
        }
        if size < 1e-8 {
            break;
        }
    }
    Ok(ChurnModel {
        means,
        scales,
        coefficients: beta,
        iterations,
    })
}

/// Solves a x = b for a symmetric positive definite a by Gaussian elimination with
/// partial pivoting; None when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            if f != 0.0 {
                let (top, bottom) = a.split_at_mut(row);
                for (target, source) in bottom[0][col..].iter_mut().zip(&top[col][col..]) {
                    *target -= f * source;
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// The area under the ROC curve of `scores` for the positives in `labels`, by the
/// Mann–Whitney U statistic with average ranks for ties; None without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

fn design(d: &Dataset) -> Vec<Vec<f64>> {
    d.features.iter().map(|f| f.values().to_vec()).collect()
}

/// Fits the model at a labelled cutoff.
pub fn fit_at(
    tx: &Transactions,
    histories: &Histories,
    cutoff: Day,
    params: &ChurnParams,
) -> Result<(ChurnModel, Dataset), FitError> {
    let data = dataset(tx, histories, cutoff, params);
    let Some(labels) = &data.churned else {
        return Err(FitError::BadArgument(format!(
            "the data end before the cutoff plus {} days: no labels to fit on",
            params.horizon_days
        )));
    };
    let model = fit_logistic(&design(&data), labels, params.l2)?;
    Ok((model, data))
}

/// One cutoff's customers and churn rate.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodFacts {
    pub cutoff: Day,
    pub customers: usize,
    pub churned: usize,
    pub churn_rate: f64,
}

/// The model against the baseline on a held-out period.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnEvaluation {
    pub horizon_days: u32,
    pub train: PeriodFacts,
    pub test: PeriodFacts,
    /// The AUC of the model fitted at the train cutoff, scored at the test cutoff.
    pub model_auc: f64,
    /// The AUC of scoring by days since the last visit alone, at the test cutoff.
    pub recency_baseline_auc: f64,
    pub model: ChurnModel,
}

fn facts(d: &Dataset) -> PeriodFacts {
    let churned = d
        .churned
        .as_ref()
        .map_or(0, |l| l.iter().filter(|&&v| v).count());
    PeriodFacts {
        cutoff: d.cutoff,
        customers: d.features.len(),
        churned,
        churn_rate: if d.features.is_empty() {
            0.0
        } else {
            churned as f64 / d.features.len() as f64
        },
    }
}

/// Fits at `train_cutoff` and scores at `train_cutoff + horizon`, whose labels need the
/// data to reach `train_cutoff + 2 × horizon`.
pub fn evaluate(
    tx: &Transactions,
    histories: &Histories,
    train_cutoff: Day,
    params: &ChurnParams,
) -> Result<ChurnEvaluation, FitError> {
    let (model, train) = fit_at(tx, histories, train_cutoff, params)?;
    let test = dataset(
        tx,
        histories,
        train_cutoff + params.horizon_days as Day,
        params,
    );
    let Some(labels) = &test.churned else {
        return Err(FitError::BadArgument(format!(
            "the data end before the test cutoff plus {} days: no held-out labels",
            params.horizon_days
        )));
    };
    let scores: Vec<f64> = test.features.iter().map(|f| model.probability(f)).collect();
    let recency: Vec<f64> = test.features.iter().map(|f| f.recency_days).collect();
    let no_auc = || FitError::BadArgument("the held-out period has only one class".into());
    Ok(ChurnEvaluation {
        horizon_days: params.horizon_days,
        model_auc: auc(&scores, labels).ok_or_else(no_auc)?,
        recency_baseline_auc: auc(&recency, labels).ok_or_else(no_auc)?,
        train: facts(&train),
        test: facts(&test),
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_and_halves_ties() {
        let labels = [true, true, false, false];
        assert_eq!(auc(&[0.9, 0.8, 0.1, 0.2], &labels), Some(1.0));
        assert_eq!(auc(&[0.1, 0.2, 0.9, 0.8], &labels), Some(0.0));
        assert_eq!(auc(&[0.5; 4], &labels), Some(0.5));
        // Pairs: (0.9 vs 0.1, 0.5) win, (0.5 vs 0.5) tie, (0.5 vs 0.1) win → 3.5 / 4.
        assert_eq!(auc(&[0.9, 0.5, 0.5, 0.1], &labels), Some(0.875));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn logistic_regression_recovers_a_known_slope() {
        // y = 1 with probability sigmoid(-1 + 2x) on a grid of x, expected counts.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let xi = -3.0 + 6.0 * i as f64 / 199.0;
            let p = sigmoid(-1.0 + 2.0 * xi);
            let ones = (p * 100.0).round() as usize;
            for k in 0..100 {
                x.push(vec![xi]);
                y.push(k < ones);
            }
        }
        let m = fit_logistic(&x, &y, 0.0).unwrap();
        // Back to the raw scale: slope / scale, intercept − slope × mean / scale.
        let slope = m.coefficients[1] / m.scales[0];
        let intercept = m.coefficients[0] - m.coefficients[1] * m.means[0] / m.scales[0];
        assert!((slope - 2.0).abs() < 0.02, "{slope}");
        assert!((intercept + 1.0).abs() < 0.02, "{intercept}");
        // A penalty shrinks the slope.
        let shrunk = fit_logistic(&x, &y, 5_000.0).unwrap();
        assert!(shrunk.coefficients[1].abs() < m.coefficients[1].abs() * 0.9);
        assert!(fit_logistic(&x, &vec![true; x.len()], 1.0).is_err());
    }

    /// A small deterministic generator, so the test needs no dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Regulars with cycles of 3 to 60 days, some of whom stop for good on a random
    /// day: recency alone confuses a slow regular with a fast one who stopped, the
    /// model sees recency against the customer's own cycle.
    fn synthetic(customers: usize, days: i32, seed: u64) -> Transactions {
        let mut rng = Lcg(seed);
        let mut tx = Transactions::new(false);
        for c in 0..customers {
            let id = format!("c{c}");
            let interval = 3.0 + 57.0 * rng.next();
            let stop = if rng.next() < 0.3 {
                (rng.next() * days as f64) as i32
            } else {
                i32::MAX
            };
            let mut t = rng.next() * interval;
            while (t as i32) < days.min(stop) {
                tx.push(&id, t as i32, 50.0 + 100.0 * rng.next(), None);
                t += interval * (0.7 + 0.6 * rng.next());
            }
        }
        tx
    }

    #[test]
    fn the_model_beats_recency_on_a_later_period() {
        let tx = synthetic(4_000, 400, 11);
        let histories = Histories::new(&tx);
        let params = ChurnParams::default();
        let e = evaluate(&tx, &histories, 250, &params).unwrap();
        assert_eq!(e.test.cutoff, 310);
        assert!(e.train.customers > 1_000 && e.test.customers > 1_000);
        assert!(e.test.churn_rate > 0.05 && e.test.churn_rate < 0.6);
        assert!(
            e.model_auc > e.recency_baseline_auc + 0.02,
            "model {} recency {}",
            e.model_auc,
            e.recency_baseline_auc
        );
        assert!(e.model_auc > 0.85, "{}", e.model_auc);
        // The data end at day 399: a test cutoff whose horizon runs past it has no labels.
        assert!(evaluate(&tx, &histories, 300, &params).is_err());
    }

    #[test]
    fn features_follow_the_history() {
        let mut tx = Transactions::new(false);
        for d in [0, 10, 20, 40, 130] {
            tx.push("a", d, 10.0, None);
        }
        let histories = Histories::new(&tx);
        let params = ChurnParams::default();
        let d = dataset(&tx, &histories, 130, &params);
        let f = &d.features[0];
        assert_eq!(f.recency_days, 0.0);
        assert_eq!(f.visits, 5.0);
        assert_eq!(f.monetary, 50.0);
        assert_eq!(f.tenure_days, 130.0);
        assert_eq!(f.mean_interval_days, 32.5);
        assert_eq!(f.visits_last_90, 1.0);
        assert_eq!(f.visits_prior_90, 4.0);
        assert!(d.churned.is_none(), "no data after the cutoff: no labels");
        let d = dataset(&tx, &histories, 40, &params);
        assert_eq!(d.features[0].visits, 4.0);
        assert_eq!(d.features[0].recency_over_interval, 0.0);
        assert_eq!(d.churned, Some(vec![true]), "nothing in (40, 100]");
        let d = dataset(&tx, &histories, 30, &params);
        assert_eq!(d.churned, Some(vec![false]), "day 40 is in (30, 90]");
        assert_eq!(d.features[0].recency_over_interval, 1.0);
    }
}

//! Customer lifetime value: BG/NBD's expected purchases times Gamma-Gamma's expected
//! value per purchase, over a horizon, with an optional discount rate.
//!
//! For a customer with summary (x, t_x, T, z̄), horizon H periods and discount rate d per
//! period:
//!
//! ```text
//! CLV = E[Z | x, z̄] · Σ_{k=1..H} (E[Y(k) | x, t_x, T] − E[Y(k−1) | x, t_x, T]) / (1 + d)^k
//! ```
//!
//! that is, the purchases expected in each period k are valued at the customer's expected
//! spend and discounted to today as if paid at the end of that period. With d = 0 the sum
//! telescopes to E[Y(H)], so CLV = E[Y(H)] · E[Z]. Spend and purchase count are taken as
//! independent, as Gamma-Gamma assumes. The value is revenue, not margin: multiply by a
//! margin to get profit.

use crate::bgnbd::{self, BgNbdData, BgNbdFit, BgNbdParams};
use crate::error::FitError;
use crate::gamma_gamma::{self, GammaGammaData, GammaGammaFit, GammaGammaParams};
use crate::summary::{summarise_transactions, Period, Summary};
use crate::transactions::{Day, Transactions};
use std::collections::HashMap;

/// What to fit and predict.
#[derive(Debug, Clone, Copy)]
pub struct ClvOptions {
    /// The last day of the calibration period (included).
    pub calibration_end: Day,
    pub period: Period,
    /// Periods ahead to predict.
    pub horizon: u32,
    /// Discount rate per period (0.01 is 1 % a period); 0 for none.
    pub discount_rate: f64,
}

/// Both fits and, per customer in the summary's order, the predictions.
#[derive(Debug, Clone)]
pub struct ClvReport {
    pub bgnbd: BgNbdFit,
    pub gamma_gamma: GammaGammaFit,
    pub summary: Summary,
    /// E[Y(horizon) | x, t_x, T].
    pub expected_transactions: Vec<f64>,
    pub p_alive: Vec<f64>,
    /// E[Z | x, z̄]: the expected value of one future purchase.
    pub expected_average_value: Vec<f64>,
    /// The lifetime value over the horizon (the formula in the module docs).
    pub expected_value: Vec<f64>,
}

/// Summarises, fits both models and predicts for every customer.
pub fn clv_report(tx: &Transactions, options: &ClvOptions) -> Result<ClvReport, FitError> {
    if !(options.discount_rate.is_finite() && options.discount_rate > -1.0) {
        return Err(FitError::BadArgument(format!(
            "the discount rate must be above −1, not {}",
            options.discount_rate
        )));
    }
    let summary = summarise_transactions(tx, options.calibration_end, options.period);
    if summary.is_empty() {
        return Err(FitError::NoCustomers);
    }
    let bg = bgnbd::fit(&BgNbdData::new(
        &summary.frequency,
        &summary.recency,
        &summary.t,
    )?)?;
    let gg = gamma_gamma::fit(&GammaGammaData::new(&summary.frequency, &summary.monetary)?)?;
    Ok(predict(bg, gg, summary, options))
}

/// The per-customer figures for fitted models.
pub fn predict(
    bgnbd: BgNbdFit,
    gamma_gamma: GammaGammaFit,
    summary: Summary,
    options: &ClvOptions,
) -> ClvReport {
    let bg = bgnbd.params;
    let gg = gamma_gamma.params;
    let horizon = f64::from(options.horizon);
    let s = &summary;
    let expected_transactions =
        bg.conditional_expected_purchases_batch(horizon, &s.frequency, &s.recency, &s.t);
    let p_alive: Vec<f64> = (0..s.len())
        .map(|i| bg.p_alive(s.frequency[i], s.recency[i], s.t[i]))
        .collect();
    // A customer whose repeat purchases net to nothing (refunds) tells nothing about
    // spend, as one without repeats: the population mean.
    let expected_average_value: Vec<f64> = (0..s.len())
        .map(|i| {
            if s.monetary[i] > 0.0 {
                gg.conditional_expected_value(s.frequency[i], s.monetary[i])
            } else {
                gg.population_mean()
            }
        })
        .collect();
    let expected_value = if options.discount_rate == 0.0 {
        expected_transactions
            .iter()
            .zip(&expected_average_value)
            .map(|(e, v)| e * v)
            .collect()
    } else {
        discounted_values(&bg, s, &expected_average_value, options)
    };
    ClvReport {
        bgnbd,
        gamma_gamma,
        summary,
        expected_transactions,
        p_alive,
        expected_average_value,
        expected_value,
    }
}

fn discounted_values(
    bg: &BgNbdParams,
    s: &Summary,
    value: &[f64],
    options: &ClvOptions,
) -> Vec<f64> {
    // Σ_k (N_k − N_{k−1}) / (1+d)^k depends on x and T only; the denominator of the
    // conditional expectation (the customer's t_x) divides it afterwards.
    let mut cache: HashMap<(u32, u64), f64> = HashMap::new();
    (0..s.len())
        .map(|i| {
            let discounted = *cache
                .entry((s.frequency[i], s.t[i].to_bits()))
                .or_insert_with(|| {
                    let mut total = 0.0;
                    let mut previous = 0.0;
                    let mut factor = 1.0;
                    for k in 1..=options.horizon {
                        factor /= 1.0 + options.discount_rate;
                        let n = bg.expected_numerator(f64::from(k), s.frequency[i], s.t[i]);
                        total += (n - previous) * factor;
                        previous = n;
                    }
                    total
                });
            value[i] * discounted / bg.expected_denominator(s.frequency[i], s.recency[i], s.t[i])
        })
        .collect()
}

/// The lifetime value of one customer (the formula in the module docs).
pub fn customer_lifetime_value(
    bg: &BgNbdParams,
    gg: &GammaGammaParams,
    x: u32,
    t_x: f64,
    t: f64,
    zbar: f64,
    options: &ClvOptions,
) -> f64 {
    let value = gg.conditional_expected_value(x, zbar);
    let mut total = 0.0;
    let mut previous = 0.0;
    for k in 1..=options.horizon {
        let e = bg.conditional_expected_purchases(f64::from(k), x, t_x, t);
        total += (e - previous) / (1.0 + options.discount_rate).powi(k as i32);
        previous = e;
    }
    value * total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounting_values_later_purchases_less() {
        let bg = BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let gg = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let mut options = ClvOptions {
            calibration_end: 0,
            period: Period::Week,
            horizon: 52,
            discount_rate: 0.0,
        };
        let undiscounted = customer_lifetime_value(&bg, &gg, 2, 30.43, 38.86, 22.35, &options);
        let direct = bg.conditional_expected_purchases(52.0, 2, 30.43, 38.86)
            * gg.conditional_expected_value(2, 22.35);
        assert!((undiscounted - direct).abs() < 1e-9 * direct);
        options.discount_rate = 0.002;
        let discounted = customer_lifetime_value(&bg, &gg, 2, 30.43, 38.86, 22.35, &options);
        assert!(discounted < undiscounted && discounted > undiscounted / 1.002f64.powi(52));

        // The batch path gives the same numbers as the one-customer function.
        let summary = Summary {
            customer: vec![0, 1, 2],
            frequency: vec![2, 2, 0],
            recency: vec![30.43, 10.0, 0.0],
            t: vec![38.86, 38.86, 20.0],
            monetary: vec![22.35, 40.0, 0.0],
        };
        let values: Vec<f64> = (0..3)
            .map(|i| gg.conditional_expected_value(summary.frequency[i], summary.monetary[i]))
            .collect();
        let batch = discounted_values(&bg, &summary, &values, &options);
        for (i, &value) in batch.iter().enumerate() {
            let one = customer_lifetime_value(
                &bg,
                &gg,
                summary.frequency[i],
                summary.recency[i],
                summary.t[i],
                summary.monetary[i],
                &options,
            );
            assert!((value - one).abs() < 1e-9 * one, "{i}: {value} vs {one}");
        }
    }
}

//! The Gamma-Gamma model of spend per transaction (Fader & Hardie, "The Gamma-Gamma
//! model of monetary value", 2013, after Colombo & Jiang 1999): a customer's transaction
//! values are gamma(p, ν), and ν is gamma(q, γ) across customers. Fitted by maximum
//! likelihood on the customers with at least one repeat purchase, from x and their mean
//! repeat value z̄; gives the expected value of a customer's future transactions.
//!
//! The model assumes spend is independent of purchase frequency; check that the
//! correlation between x and z̄ is weak before relying on it.

use crate::error::FitError;
use crate::optim::{bfgs, nelder_mead, Options};
use crate::special::{digamma, ln_gamma};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    pub log_likelihood: f64,
    /// Customers the model was fitted on (x > 0 and z̄ > 0).
    pub customers: usize,
    pub iterations: usize,
    pub evaluations: usize,
}

/// Repeat customers reduced to what the likelihood needs.
#[derive(Debug, Clone)]
pub struct GammaGammaData {
    /// Per customer: x and x·z̄.
    x: Vec<f64>,
    x_zbar: Vec<f64>,
    /// Distinct x with the number of customers at each.
    distinct_x: Vec<(f64, f64)>,
    /// Σ x ln z̄ + Σ x ln x, and Σ ln z̄: the parts that do not depend on the parameters.
    sum_x_ln_xzbar: f64,
    sum_ln_zbar: f64,
}

impl GammaGammaData {
    /// The customers with `frequency > 0` and a positive `monetary` (mean repeat value);
    /// the others carry no information on spend and are skipped.
    pub fn new(frequency: &[u32], monetary: &[f64]) -> Result<Self, FitError> {
        if frequency.len() != monetary.len() {
            return Err(FitError::Lengths(format!(
                "frequency {}, monetary {}",
                frequency.len(),
                monetary.len()
            )));
        }
        let mut data = GammaGammaData {
            x: Vec::new(),
            x_zbar: Vec::new(),
            distinct_x: Vec::new(),
            sum_x_ln_xzbar: 0.0,
            sum_ln_zbar: 0.0,
        };
        let mut counts = std::collections::BTreeMap::new();
        for (i, (&x, &m)) in frequency.iter().zip(monetary).enumerate() {
            if !m.is_finite() {
                return Err(FitError::BadCustomer {
                    index: i,
                    message: format!("monetary value {m}"),
                });
            }
            if x == 0 || m <= 0.0 {
                continue;
            }
            let xf = f64::from(x);
            data.x.push(xf);
            data.x_zbar.push(xf * m);
            data.sum_x_ln_xzbar += xf * (m.ln() + xf.ln());
            data.sum_ln_zbar += m.ln();
            *counts.entry(x).or_insert(0.0) += 1.0;
        }
        if data.x.is_empty() {
            return Err(FitError::NoRepeatCustomers);
        }
        data.distinct_x = counts.into_iter().map(|(x, n)| (f64::from(x), n)).collect();
        Ok(data)
    }

    pub fn customers(&self) -> usize {
        self.x.len()
    }

    /// Σ over customers of ln f(z̄ | x; p, q, γ):
    /// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln z̄ + px ln x − (px+q) ln(γ + x z̄).
    pub fn log_likelihood(&self, params: &GammaGammaParams) -> f64 {
        self.evaluate(params, None)
    }

    /// The log-likelihood and its gradient with respect to (p, q, γ).
    pub fn log_likelihood_gradient(&self, params: &GammaGammaParams) -> (f64, [f64; 3]) {
        let mut g = [0.0; 3];
        let ll = self.evaluate(params, Some(&mut g));
        (ll, g)
    }

    fn evaluate(&self, params: &GammaGammaParams, gradient: Option<&mut [f64; 3]>) -> f64 {
        let GammaGammaParams { p, q, gamma } = *params;
        if !(p > 0.0 && q > 0.0 && gamma > 0.0) {
            return f64::NAN;
        }
        let n = self.x.len() as f64;
        let want_gradient = gradient.is_some();
        let mut ll =
            n * (q * gamma.ln() - ln_gamma(q)) + p * self.sum_x_ln_xzbar - self.sum_ln_zbar;
        let (mut g_p, mut g_q, mut g_gamma) = (
            self.sum_x_ln_xzbar,
            n * (gamma.ln() - digamma(q)),
            n * q / gamma,
        );
        for &(x, count) in &self.distinct_x {
            ll += count * (ln_gamma(p * x + q) - ln_gamma(p * x));
            if want_gradient {
                let psi_sum = digamma(p * x + q);
                g_p += count * x * (psi_sum - digamma(p * x));
                g_q += count * psi_sum;
            }
        }
        for (&x, &xz) in self.x.iter().zip(&self.x_zbar) {
            let denominator = gamma + xz;
            let ln_den = denominator.ln();
            ll -= (p * x + q) * ln_den;
            if want_gradient {
                g_p -= x * ln_den;
                g_q -= ln_den;
                g_gamma -= (p * x + q) / denominator;
            }
        }
        if let Some(out) = gradient {
            *out = [g_p, g_q, g_gamma];
        }
        ll
    }
}

/// Fits Gamma-Gamma by maximum likelihood (BFGS over log-parameters, Nelder–Mead if it
/// stalls), starting from p = q = 1 and γ matching the mean spend.
pub fn fit(data: &GammaGammaData) -> Result<GammaGammaFit, FitError> {
    let n = data.customers() as f64;
    let mean_spend: f64 = data
        .x_zbar
        .iter()
        .zip(&data.x)
        .map(|(xz, x)| xz / x)
        .sum::<f64>()
        / n;
    let from_log = |u: &[f64]| GammaGammaParams {
        p: u[0].exp(),
        q: u[1].exp(),
        gamma: u[2].exp(),
    };
    // With p = 1 and q = 2 the population mean pγ/(q−1) is γ.
    let start = [0.0, 2f64.ln(), mean_spend.max(1e-9).ln()];
    let objective = |u: &[f64], grad: &mut [f64]| {
        let params = from_log(u);
        let (ll, g) = data.log_likelihood_gradient(&params);
        let theta = [params.p, params.q, params.gamma];
        for i in 0..3 {
            grad[i] = -g[i] * theta[i] / n;
        }
        -ll / n
    };
    let options = Options::default();
    let mut best = bfgs(objective, &start, &options);
    if !best.converged {
        let simplex = nelder_mead(
            |u| -data.log_likelihood(&from_log(u)) / n,
            &best.x,
            0.1,
            &Options {
                max_iterations: 20_000,
                ..options
            },
        );
        let (evaluations, iterations) = (
            best.evaluations + simplex.evaluations,
            best.iterations + simplex.iterations,
        );
        if simplex.f <= best.f {
            best = simplex;
        }
        best.evaluations = evaluations;
        best.iterations = iterations;
        if !best.converged {
            return Err(FitError::NotConverged(format!(
                "Gamma-Gamma stopped after {} evaluations at {:?}",
                best.evaluations,
                from_log(&best.x)
            )));
        }
    }
    let params = from_log(&best.x);
    Ok(GammaGammaFit {
        params,
        log_likelihood: data.log_likelihood(&params),
        customers: data.customers(),
        iterations: best.iterations,
        evaluations: best.evaluations,
    })
}

impl GammaGammaParams {
    /// The mean transaction value across customers, pγ/(q−1); infinite when q ≤ 1.
    pub fn population_mean(&self) -> f64 {
        if self.q > 1.0 {
            self.p * self.gamma / (self.q - 1.0)
        } else {
            f64::INFINITY
        }
    }

    /// E[Z | x, z̄]: the expected value of this customer's future transactions,
    /// (γ + x z̄) p / (px + q − 1) — a weighted mean of the population mean and the
    /// customer's own z̄, the weight of z̄ growing with x. With no repeat purchase it is
    /// the population mean.
    pub fn conditional_expected_value(&self, x: u32, zbar: f64) -> f64 {
        if x == 0 {
            return self.population_mean();
        }
        let x = f64::from(x);
        (self.gamma + x * zbar) * self.p / (self.p * x + self.q - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDNOW: GammaGammaParams = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn one(params: &GammaGammaParams, x: u32, zbar: f64) -> f64 {
        let GammaGammaParams { p, q, gamma } = *params;
        let x = f64::from(x);
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * zbar.ln()
            + p * x * x.ln()
            - (p * x + q) * (gamma + x * zbar).ln()
    }

    #[test]
    fn log_likelihood_and_gradient_match_the_formula() {
        let x = [1, 2, 2, 7, 0, 3];
        let z = [10.0, 22.35, 40.0, 18.5, 0.0, 5.0];
        let data = GammaGammaData::new(&x, &z).unwrap();
        assert_eq!(
            data.customers(),
            5,
            "the customer without repeats is skipped"
        );
        let direct: f64 = (0..6)
            .filter(|&i| x[i] > 0)
            .map(|i| one(&CDNOW, x[i], z[i]))
            .sum();
        assert!((data.log_likelihood(&CDNOW) - direct).abs() < 1e-10 * direct.abs());
        let (_, g) = data.log_likelihood_gradient(&CDNOW);
        let theta = [CDNOW.p, CDNOW.q, CDNOW.gamma];
        for i in 0..3 {
            let h = 1e-6 * theta[i];
            let at = |delta: f64| {
                let mut v = theta;
                v[i] += delta;
                data.log_likelihood(&GammaGammaParams {
                    p: v[0],
                    q: v[1],
                    gamma: v[2],
                })
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (numeric - g[i]).abs() < 1e-6 * g[i].abs().max(1.0),
                "d/d{i}: {numeric} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn expected_value_shrinks_towards_the_population_mean() {
        let mean = CDNOW.population_mean();
        assert!((mean - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert_eq!(CDNOW.conditional_expected_value(0, 0.0), mean);
        let low_one = CDNOW.conditional_expected_value(1, 5.0);
        let low_many = CDNOW.conditional_expected_value(20, 5.0);
        assert!(
            low_one > low_many && low_many > 5.0,
            "more purchases, nearer to own mean"
        );
        let high = CDNOW.conditional_expected_value(1, 200.0);
        assert!(high < 200.0 && high > mean);
    }

    #[test]
    fn no_repeat_customers_cannot_be_fitted() {
        assert!(matches!(
            GammaGammaData::new(&[0, 0], &[0.0, 0.0]),
            Err(FitError::NoRepeatCustomers)
        ));
        assert!(matches!(
            GammaGammaData::new(&[1], &[f64::NAN]),
            Err(FitError::BadCustomer { .. })
        ));
    }
}

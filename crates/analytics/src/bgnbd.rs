//! The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting your customers
//! the easy way"): while alive a customer buys at a Poisson rate λ, gamma(r, α) across
//! customers; after each repeat purchase the customer drops out with probability p,
//! beta(a, b) across customers. Fitted by maximum likelihood on each customer's
//! (x, t_x, T); gives the expected purchases in the next t periods and P(alive).
//!
//! The fit works on sufficient statistics: customers with the same (x, t_x, T) are one
//! weighted group, everything that depends only on x or only on a time is computed once
//! per distinct x or distinct time for each trial of the parameters, and the loop over
//! the groups of repeat buyers is one exp and one ln1p per group. The gradient is exact
//! (digamma differences at integer steps are sums of reciprocals), so BFGS needs few
//! evaluations.

use crate::error::FitError;
use crate::optim::{bfgs, nelder_mead, Options};
use crate::special::ln_gamma;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The four BG/NBD parameters: purchase rates gamma(r, α) (α in periods), dropout
/// probabilities beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted model.
#[derive(Debug, Clone, Serialize)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    /// The log-likelihood at the parameters, summed over customers.
    pub log_likelihood: f64,
    pub customers: usize,
    /// Distinct (x, t_x, T) among the repeat buyers: the size of the inner loop.
    pub groups: usize,
    pub iterations: usize,
    pub evaluations: usize,
}

/// Customers reduced to what the likelihood needs.
#[derive(Debug, Clone)]
pub struct BgNbdData {
    /// Distinct times (t_x of repeat buyers and T of everyone), ascending.
    times: Vec<f64>,
    /// Per distinct time: Σ weight and Σ weight·x of the customers with that T.
    weight_by_t: Vec<f64>,
    x_weight_by_t: Vec<f64>,
    /// Per x (0..=x_max): Σ weight.
    weight_by_x: Vec<f64>,
    /// Groups of repeat buyers: x, index of t_x, index of T, weight.
    gx: Vec<u32>,
    g_tx: Vec<u32>,
    g_t: Vec<u32>,
    gw: Vec<f64>,
    total_weight: f64,
    customers: usize,
}

impl BgNbdData {
    /// Groups customers given as columns x, t_x and T (in periods).
    pub fn new(x: &[u32], t_x: &[f64], t: &[f64]) -> Result<Self, FitError> {
        Self::weighted(x, t_x, t, None)
    }

    /// As [`BgNbdData::new`], each row standing for `weights[i]` customers.
    pub fn weighted(
        x: &[u32],
        t_x: &[f64],
        t: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, FitError> {
        let n = x.len();
        if t_x.len() != n || t.len() != n || weights.is_some_and(|w| w.len() != n) {
            return Err(FitError::Lengths(format!(
                "x {}, t_x {}, T {}",
                n,
                t_x.len(),
                t.len()
            )));
        }
        if n == 0 {
            return Err(FitError::NoCustomers);
        }
        for i in 0..n {
            let bad = |message: &str| FitError::BadCustomer {
                index: i,
                message: format!("{message} (x {}, t_x {}, T {})", x[i], t_x[i], t[i]),
            };
            if !(t[i].is_finite() && t_x[i].is_finite()) || t_x[i] < 0.0 {
                return Err(bad("times must be finite and not negative"));
            }
            if t_x[i] > t[i] * (1.0 + 1e-12) {
                return Err(bad("the last purchase is after the calibration end"));
            }
            if x[i] == 0 && t_x[i] != 0.0 {
                return Err(bad("no repeat purchase but a recency"));
            }
            if let Some(w) = weights {
                if !(w[i].is_finite() && w[i] >= 0.0) {
                    return Err(bad("weights must be finite and not negative"));
                }
            }
        }
        let mut times: Vec<f64> = t.to_vec();
        times.extend((0..n).filter(|&i| x[i] > 0).map(|i| t_x[i]));
        times.sort_unstable_by(f64::total_cmp);
        times.dedup();
        let index_of = |v: f64| times.binary_search_by(|p| p.total_cmp(&v)).unwrap_or(0) as u32;

        let x_max = *x.iter().max().unwrap_or(&0) as usize;
        let mut weight_by_t = vec![0.0; times.len()];
        let mut x_weight_by_t = vec![0.0; times.len()];
        let mut weight_by_x = vec![0.0; x_max + 1];
        let mut keyed: Vec<(u32, u32, u32, f64)> = Vec::new();
        let mut total_weight = 0.0;
        for i in 0..n {
            let w = weights.map_or(1.0, |w| w[i]);
            let it = index_of(t[i]);
            weight_by_t[it as usize] += w;
            x_weight_by_t[it as usize] += w * f64::from(x[i]);
            weight_by_x[x[i] as usize] += w;
            total_weight += w;
            if x[i] > 0 {
                keyed.push((x[i], index_of(t_x[i]), it, w));
            }
        }
        if total_weight <= 0.0 {
            return Err(FitError::NoCustomers);
        }
        keyed.sort_unstable_by_key(|k| (k.0, k.1, k.2));
        let mut data = BgNbdData {
            times,
            weight_by_t,
            x_weight_by_t,
            weight_by_x,
            gx: Vec::new(),
            g_tx: Vec::new(),
            g_t: Vec::new(),
            gw: Vec::new(),
            total_weight,
            customers: n,
        };
        for (x, itx, it, w) in keyed {
            let same = data.gx.last() == Some(&x)
                && data.g_tx.last() == Some(&itx)
                && data.g_t.last() == Some(&it);
            if same {
                *data.gw.last_mut().expect("a group") += w;
            } else {
                data.gx.push(x);
                data.g_tx.push(itx);
                data.g_t.push(it);
                data.gw.push(w);
            }
        }
        Ok(data)
    }

    /// Distinct (x, t_x, T) among repeat buyers.
    pub fn groups(&self) -> usize {
        self.gx.len()
    }

    fn repeat_weight(&self) -> f64 {
        self.weight_by_x.iter().skip(1).sum()
    }

    /// The log-likelihood at `p`, summed over customers.
    pub fn log_likelihood(&self, p: &BgNbdParams) -> f64 {
        self.evaluate(p, None)
    }

    /// The log-likelihood and its gradient with respect to (r, α, a, b).
    pub fn log_likelihood_gradient(&self, p: &BgNbdParams) -> (f64, [f64; 4]) {
        let mut g = [0.0; 4];
        let ll = self.evaluate(p, Some(&mut g));
        (ll, g)
    }

    fn evaluate(&self, p: &BgNbdParams, gradient: Option<&mut [f64; 4]>) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *p;
        if !(r > 0.0 && alpha > 0.0 && a > 0.0 && b > 0.0) {
            return f64::NAN;
        }
        let want_gradient = gradient.is_some();
        let x_max = self.weight_by_x.len() - 1;
        // ln(α + t) and 1/(α + t) for every distinct time.
        let ln_at: Vec<f64> = self.times.iter().map(|&t| (alpha + t).ln()).collect();
        let inv_at: Vec<f64> = if want_gradient {
            self.times.iter().map(|&t| 1.0 / (alpha + t)).collect()
        } else {
            Vec::new()
        };
        // Per x: ln a − ln(b + x − 1), and the sums over repeat groups of w·σ per x.
        let ln_a = a.ln();
        let c_x: Vec<f64> = (0..=x_max)
            .map(|x| {
                if x == 0 {
                    0.0
                } else {
                    ln_a - (b + x as f64 - 1.0).ln()
                }
            })
            .collect();
        let mut sigma_by_x = vec![0.0; x_max + 1];

        // Terms that depend on x only: ln Γ(r+x) − ln Γ(r) + ln B(a, b+x) − ln B(a, b),
        // built up step by step over x, weighted by the customers at each x.
        let mut ll = self.total_weight * r * alpha.ln();
        let (mut g_r, mut g_alpha, mut g_a, mut g_b) = (
            self.total_weight * alpha.ln(),
            self.total_weight * r / alpha,
            0.0,
            0.0,
        );
        let (mut s, mut d_r, mut d_a, mut d_b) = (0.0, 0.0, 0.0, 0.0);
        for x in 0..=x_max {
            if x > 0 {
                let k = (x - 1) as f64;
                s += (r + k).ln() + (b + k).ln() - (a + b + k).ln();
                if want_gradient {
                    d_r += 1.0 / (r + k);
                    d_a -= 1.0 / (a + b + k);
                    d_b += 1.0 / (b + k) - 1.0 / (a + b + k);
                }
            }
            let w = self.weight_by_x[x];
            if w != 0.0 {
                ll += w * s;
                g_r += w * d_r;
                g_a += w * d_a;
                g_b += w * d_b;
            }
        }
        // −(r + x) ln(α + T) for everyone, by distinct T.
        for v in 0..self.times.len() {
            let (w, wx) = (self.weight_by_t[v], self.x_weight_by_t[v]);
            if w != 0.0 {
                ll -= (r * w + wx) * ln_at[v];
                if want_gradient {
                    g_r -= w * ln_at[v];
                    g_alpha -= (r * w + wx) * inv_at[v];
                }
            }
        }
        // Repeat buyers: + ln(1 + e^D), D = ln a − ln(b+x−1) − (r+x)(ln(α+t_x) − ln(α+T)).
        for g in 0..self.gx.len() {
            let x = self.gx[g] as usize;
            let (itx, it) = (self.g_tx[g] as usize, self.g_t[g] as usize);
            let w = self.gw[g];
            let rx = r + x as f64;
            let gap = ln_at[itx] - ln_at[it];
            let d = c_x[x] - rx * gap;
            let e = (-d.abs()).exp();
            ll += w * (d.max(0.0) + e.ln_1p());
            if want_gradient {
                let sigma = if d >= 0.0 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                };
                let ws = w * sigma;
                g_r -= ws * gap;
                g_alpha -= ws * rx * (inv_at[itx] - inv_at[it]);
                sigma_by_x[x] += ws;
            }
        }
        if let Some(out) = gradient {
            for (x, &ws) in sigma_by_x.iter().enumerate().skip(1) {
                g_a += ws / a;
                g_b -= ws / (b + x as f64 - 1.0);
            }
            *out = [g_r, g_alpha, g_a, g_b];
        }
        ll
    }
}

/// Fits BG/NBD by maximum likelihood: BFGS over the logarithms of the parameters from a
/// start where the mean purchase rate matches the data, then Nelder–Mead from there if
/// BFGS did not converge.
pub fn fit(data: &BgNbdData) -> Result<BgNbdFit, FitError> {
    if data.repeat_weight() <= 0.0 {
        return Err(FitError::NoRepeatCustomers);
    }
    let total_t: f64 = data
        .times
        .iter()
        .zip(&data.weight_by_t)
        .map(|(t, w)| t * w)
        .sum();
    let total_x: f64 = data.x_weight_by_t.iter().sum();
    let scale = data.total_weight;
    let from_log = |u: &[f64]| BgNbdParams {
        r: u[0].exp(),
        alpha: u[1].exp(),
        a: u[2].exp(),
        b: u[3].exp(),
    };
    // The mean purchase rate r/α of the start is the observed rate.
    let start = [0.0, (total_t / total_x).max(1e-6).ln(), 0.0, 0.0];
    let objective = |u: &[f64], grad: &mut [f64]| {
        let p = from_log(u);
        let (ll, g) = data.log_likelihood_gradient(&p);
        let theta = [p.r, p.alpha, p.a, p.b];
        for i in 0..4 {
            grad[i] = -g[i] * theta[i] / scale;
        }
        -ll / scale
    };
    let options = Options::default();
    let mut best = bfgs(objective, &start, &options);
    if !best.converged {
        let simplex = nelder_mead(
            |u| -data.log_likelihood(&from_log(u)) / scale,
            &best.x,
            0.1,
            &Options {
                max_iterations: 20_000,
                f_tolerance: 1e-15,
                ..options
            },
        );
        let evaluations = best.evaluations + simplex.evaluations;
        let iterations = best.iterations + simplex.iterations;
        if simplex.f <= best.f {
            best = simplex;
        }
        best.evaluations = evaluations;
        best.iterations = iterations;
        if !best.converged {
            return Err(FitError::NotConverged(format!(
                "BG/NBD stopped after {} evaluations at {:?}",
                best.evaluations,
                from_log(&best.x)
            )));
        }
    }
    let params = from_log(&best.x);
    Ok(BgNbdFit {
        params,
        log_likelihood: data.log_likelihood(&params),
        customers: data.customers,
        groups: data.groups(),
        iterations: best.iterations,
        evaluations: best.evaluations,
    })
}

impl BgNbdParams {
    /// D = ln a − ln(b + x − 1) − (r + x)(ln(α + t_x) − ln(α + T)): the log of the
    /// "dropped out just after t_x" term of the likelihood over the "alive at T" term.
    fn dropout_exponent(&self, x: u32, t_x: f64, t: f64) -> f64 {
        let x = f64::from(x);
        self.a.ln()
            - (self.b + x - 1.0).ln()
            - (self.r + x) * ((self.alpha + t_x).ln() - (self.alpha + t).ln())
    }

    /// P(alive at T | x, t_x, T). A customer without a repeat purchase cannot have
    /// dropped out (dropout happens only after a repeat purchase), so it is 1.
    pub fn p_alive(&self, x: u32, t_x: f64, t: f64) -> f64 {
        if x == 0 {
            return 1.0;
        }
        let d = self.dropout_exponent(x, t_x, t);
        // 1 / (1 + e^D), written to stay finite for any D.
        if d > 0.0 {
            let e = (-d).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + d.exp())
        }
    }

    /// The part of E[Y(t) | x, t_x, T] that depends on x and T only (FHL 2005, eq. 10
    /// without its denominator), in a form without the singularity at a = 1 and without
    /// overflow for large x: by Euler's transformation
    /// (1−z)^{r+x} 2F1(r+x, b+x; a+b+x−1; z) = (1−z)^{a−1} 2F1(a+b−1−r, a−1; a+b+x−1; z)
    /// with z = t / (α + T + t), so the numerator is
    /// (a+b+x−1) · [(1 − (1−z)^{a−1}) / (a−1) − (1−z)^{a−1} · Σ_{n≥1} c_n / (a−1)],
    /// and c_n / (a−1) is a series whose first term has the factor (a−1) taken out.
    pub fn expected_numerator(&self, t: f64, x: u32, big_t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let BgNbdParams { r, alpha, a, b } = *self;
        let x = f64::from(x);
        let z = t / (alpha + big_t + t);
        let ln_1mz = (-z).ln_1p();
        let am1 = a - 1.0;
        let pow = (am1 * ln_1mz).exp();
        let head = if am1.abs() < 1e-12 {
            -ln_1mz
        } else {
            -(am1 * ln_1mz).exp_m1() / am1
        };
        // Σ_{n≥1} of the 2F1(p, q; c; z) terms divided by q = a − 1.
        let (p, q, c) = (a + b - 1.0 - r, am1, a + b + x - 1.0);
        let mut term = p * z / c; // the n = 1 term over q
        let mut sum = term;
        let mut n = 1.0;
        while n < crate::special::HYP2F1_MAX_TERMS as f64 {
            term *= (p + n) * (q + n) / ((c + n) * (n + 1.0)) * z;
            sum += term;
            n += 1.0;
            if term.abs() <= 1e-16 * sum.abs().max(1e-300) {
                break;
            }
        }
        (a + b + x - 1.0) * (head - pow * sum)
    }

    /// 1 + a/(b+x−1) · ((α+T)/(α+t_x))^{r+x} for a repeat buyer, 1 otherwise: the
    /// denominator of FHL eq. 10 (and 1/P(alive)).
    pub fn expected_denominator(&self, x: u32, t_x: f64, t: f64) -> f64 {
        if x == 0 {
            1.0
        } else {
            1.0 + self.dropout_exponent(x, t_x, t).exp()
        }
    }

    /// E[Y(t) | x, t_x, T]: expected purchases in the next `t` periods of a customer
    /// with x repeat purchases, the last at t_x, observed for T periods (FHL eq. 10).
    pub fn conditional_expected_purchases(&self, t: f64, x: u32, t_x: f64, big_t: f64) -> f64 {
        self.expected_numerator(t, x, big_t) / self.expected_denominator(x, t_x, big_t)
    }

    /// E[X(t)]: expected repeat purchases in the first `t` periods of a new customer
    /// (FHL eq. 9).
    pub fn expected_purchases(&self, t: f64) -> f64 {
        self.expected_numerator(t, 0, 0.0)
    }

    /// E[Y(t) | …] for many customers, computing the x-and-T part once per distinct
    /// (x, T): on weekly or daily data many customers share it.
    pub fn conditional_expected_purchases_batch(
        &self,
        t: f64,
        x: &[u32],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Vec<f64> {
        let mut cache: HashMap<(u32, u64), f64> = HashMap::new();
        (0..x.len())
            .map(|i| {
                let numerator = *cache
                    .entry((x[i], big_t[i].to_bits()))
                    .or_insert_with(|| self.expected_numerator(t, x[i], big_t[i]));
                numerator / self.expected_denominator(x[i], t_x[i], big_t[i])
            })
            .collect()
    }
}

/// The log-likelihood of one customer straight from FHL eq. 6, with ln Γ: the reference
/// the grouped computation is tested against.
pub fn log_likelihood_one(p: &BgNbdParams, x: u32, t_x: f64, t: f64) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let xf = f64::from(x);
    let ln_beta = |u: f64, v: f64| ln_gamma(u) + ln_gamma(v) - ln_gamma(u + v);
    let common = ln_gamma(r + xf) - ln_gamma(r) + r * alpha.ln();
    let alive = ln_beta(a, b + xf) - ln_beta(a, b) - (r + xf) * (alpha + t).ln();
    if x == 0 {
        return common + alive;
    }
    let dropped = ln_beta(a + 1.0, b + xf - 1.0) - ln_beta(a, b) - (r + xf) * (alpha + t_x).ln();
    let m = alive.max(dropped);
    common + m + ((alive - m).exp() + (dropped - m).exp()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::hyp2f1;

    const CDNOW: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn sample() -> (Vec<u32>, Vec<f64>, Vec<f64>) {
        // A few customers, some sharing (x, t_x, T), some with t_x = T.
        let x = vec![0, 0, 1, 1, 2, 2, 5, 0, 3, 1, 12];
        let t_x = vec![0.0, 0.0, 3.0, 3.0, 30.43, 10.0, 20.0, 0.0, 38.86, 0.5, 35.0];
        let t = vec![
            38.86, 30.0, 38.86, 38.86, 38.86, 12.0, 25.0, 38.86, 38.86, 1.0, 36.0,
        ];
        (x, t_x, t)
    }

    #[test]
    fn grouped_log_likelihood_equals_the_sum_of_the_textbook_formula() {
        let (x, t_x, t) = sample();
        let data = BgNbdData::new(&x, &t_x, &t).unwrap();
        assert_eq!(
            data.groups(),
            7,
            "the two (1, 3, 38.86) customers are one group"
        );
        for p in [
            CDNOW,
            BgNbdParams {
                r: 2.0,
                alpha: 0.5,
                a: 3.0,
                b: 0.2,
            },
        ] {
            let direct: f64 = (0..x.len())
                .map(|i| log_likelihood_one(&p, x[i], t_x[i], t[i]))
                .sum();
            let grouped = data.log_likelihood(&p);
            assert!(
                (direct - grouped).abs() < 1e-9 * direct.abs(),
                "{direct} vs {grouped}"
            );
        }
        // Weights stand for repeated rows.
        let w = vec![2.0; x.len()];
        let doubled = BgNbdData::weighted(&x, &t_x, &t, Some(&w)).unwrap();
        assert!((doubled.log_likelihood(&CDNOW) - 2.0 * data.log_likelihood(&CDNOW)).abs() < 1e-9);
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let (x, t_x, t) = sample();
        let data = BgNbdData::new(&x, &t_x, &t).unwrap();
        let (_, g) = data.log_likelihood_gradient(&CDNOW);
        let theta = [CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b];
        for i in 0..4 {
            let h = 1e-6 * theta[i];
            let at = |delta: f64| {
                let mut v = theta;
                v[i] += delta;
                data.log_likelihood(&BgNbdParams {
                    r: v[0],
                    alpha: v[1],
                    a: v[2],
                    b: v[3],
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
    fn bad_customers_are_refused() {
        assert!(matches!(
            BgNbdData::new(&[], &[], &[]),
            Err(FitError::NoCustomers)
        ));
        assert!(matches!(
            BgNbdData::new(&[1], &[5.0], &[4.0]),
            Err(FitError::BadCustomer { index: 0, .. })
        ));
        assert!(matches!(
            BgNbdData::new(&[0, 0], &[0.0, 1.0], &[4.0, 4.0]),
            Err(FitError::BadCustomer { index: 1, .. })
        ));
        assert!(matches!(
            BgNbdData::new(&[0], &[0.0, 1.0], &[4.0]),
            Err(FitError::Lengths(_))
        ));
        let only_first = BgNbdData::new(&[0, 0], &[0.0, 0.0], &[4.0, 5.0]).unwrap();
        assert!(matches!(fit(&only_first), Err(FitError::NoRepeatCustomers)));
    }

    #[test]
    fn p_alive_follows_recency() {
        assert_eq!(CDNOW.p_alive(0, 0.0, 30.0), 1.0);
        // A purchase at the very end: as alive as it gets, for the same x.
        let fresh = CDNOW.p_alive(3, 38.0, 38.0);
        let stale = CDNOW.p_alive(3, 5.0, 38.0);
        assert!(fresh > 0.5 && stale < fresh, "{fresh} {stale}");
        // Closed form at t_x = T: 1 / (1 + a/(b+x−1)).
        assert!((fresh - 1.0 / (1.0 + 0.793 / (2.426 + 2.0))).abs() < 1e-12);
        // Huge exponents stay finite.
        assert!(CDNOW.p_alive(500, 0.1, 1e6).is_finite());
    }

    #[test]
    fn the_expectation_matches_the_untransformed_formula() {
        // FHL eq. 10 summed directly, where its series converges quickly.
        let p = CDNOW;
        for &(t, x, t_x, big_t) in &[
            (10.0, 0u32, 0.0, 38.86),
            (39.0, 2, 30.43, 38.86),
            (5.0, 7, 20.0, 21.0),
            (1.0, 1, 1.71, 38.86),
        ] {
            let xf = f64::from(x);
            let z = t / (p.alpha + big_t + t);
            let f = hyp2f1(p.r + xf, p.b + xf, p.a + p.b + xf - 1.0, z);
            let num = (p.a + p.b + xf - 1.0) / (p.a - 1.0)
                * (1.0 - ((p.alpha + big_t) / (p.alpha + big_t + t)).powf(p.r + xf) * f);
            let den = if x > 0 {
                1.0 + p.a / (p.b + xf - 1.0) * ((p.alpha + big_t) / (p.alpha + t_x)).powf(p.r + xf)
            } else {
                1.0
            };
            let ours = p.conditional_expected_purchases(t, x, t_x, big_t);
            assert!(
                (ours - num / den).abs() < 1e-10 * (num / den),
                "{ours} vs {}",
                num / den
            );
        }
        assert_eq!(p.conditional_expected_purchases(0.0, 3, 1.0, 2.0), 0.0);
        // a = 1 exactly is the limit, continuous from both sides.
        let at =
            |a: f64| BgNbdParams { a, ..p }.conditional_expected_purchases(20.0, 2, 10.0, 30.0);
        assert!((at(1.0) - at(1.0 + 1e-7)).abs() < 1e-6 && (at(1.0) - at(1.0 - 1e-7)).abs() < 1e-6);
        // Large x and a long horizon stay finite (the plain series would overflow).
        assert!(p
            .conditional_expected_purchases(520.0, 400, 100.0, 100.0)
            .is_finite());
        // More time, more purchases.
        let a = p.conditional_expected_purchases(10.0, 3, 30.0, 38.0);
        let b = p.conditional_expected_purchases(20.0, 3, 30.0, 38.0);
        assert!(b > a && a > 0.0);
        let batch = p.conditional_expected_purchases_batch(
            20.0,
            &[3, 3, 0],
            &[30.0, 5.0, 0.0],
            &[38.0, 38.0, 38.0],
        );
        assert!((batch[0] - b).abs() < 1e-15);
        assert!(
            batch[1] < batch[0],
            "the stale customer is less likely alive"
        );
    }

    #[test]
    fn the_unconditional_expectation_grows_like_the_closed_form() {
        // At first a new customer buys at the mean rate r/α (nobody has dropped out).
        let h = 1e-5;
        let rate = CDNOW.expected_purchases(h) / h;
        assert!((rate - CDNOW.r / CDNOW.alpha).abs() < 1e-4 * rate, "{rate}");
        assert!(CDNOW.expected_purchases(78.0) > CDNOW.expected_purchases(39.0));
    }
}

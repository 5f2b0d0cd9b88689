//! Transactions drawn from the BG/NBD and Gamma-Gamma models themselves, deterministic
//! for a seed: test data whose true parameters are known, and the input of the speed
//! benchmark.
//!
//! Each customer is born (makes a first purchase) on a day drawn uniformly from the
//! first `birth_days` days, draws a purchase rate λ ~ gamma(r, α) per period, a dropout
//! probability p ~ beta(a, b) and a spend rate ν ~ gamma(q, γ); then buys at the times of
//! a Poisson process of rate λ until the end, dropping out after each repeat purchase
//! with probability p. Every purchase is worth z ~ gamma(p_GG, ν), rounded to cents.
//! Purchases on the same day stay separate rows (the summary adds them up).

use crate::bgnbd::BgNbdParams;
use crate::gamma_gamma::GammaGammaParams;
use crate::summary::Period;
use crate::transactions::{Day, Transactions};

/// The most customers one call draws: a limit so that a typo cannot ask for billions.
pub const MAX_CUSTOMERS: usize = 50_000_000;

#[derive(Debug, Clone, Copy)]
pub struct GeneratorParams {
    pub customers: usize,
    pub seed: u64,
    /// The first day customers can be born.
    pub start: Day,
    /// Customers are born over this many days from the start.
    pub birth_days: u32,
    /// The data covers this many days from the start.
    pub days: u32,
    /// Days in the period the BG/NBD rates are per (7 for weeks).
    pub days_per_period: f64,
    pub bgnbd: BgNbdParams,
    pub gamma_gamma: GammaGammaParams,
}

impl GeneratorParams {
    /// CDNOW's shape: the published CDNOW estimates in weeks, births over the first 12
    /// weeks, 78 weeks in all, from 1 January 2024.
    pub fn cdnow_like(customers: usize, seed: u64) -> Self {
        GeneratorParams {
            customers,
            seed,
            start: 19_723, // 2024-01-01
            birth_days: 84,
            days: 546,
            days_per_period: Period::Week.days(),
            bgnbd: BgNbdParams {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            },
            gamma_gamma: GammaGammaParams {
                p: 6.25,
                q: 3.74,
                gamma: 15.44,
            },
        }
    }
}

/// Draws the transactions; customers are named `C0000001`, `C0000002`, ….
pub fn generate(params: &GeneratorParams) -> Result<Transactions, String> {
    let GeneratorParams {
        customers,
        seed,
        start,
        birth_days,
        days,
        days_per_period,
        bgnbd,
        gamma_gamma,
    } = *params;
    if customers > MAX_CUSTOMERS {
        return Err(format!(
            "at most {MAX_CUSTOMERS} customers, not {customers}"
        ));
    }
    if birth_days == 0 || birth_days > days {
        return Err(format!(
            "customers must be born within the {days} days, over at least one"
        ));
    }
    let positive = [
        days_per_period,
        bgnbd.r,
        bgnbd.alpha,
        bgnbd.a,
        bgnbd.b,
        gamma_gamma.p,
        gamma_gamma.q,
        gamma_gamma.gamma,
    ];
    if positive.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err("every model parameter must be positive".into());
    }
    let mut rng = Rng::new(seed);
    let mut tx = Transactions::new(false);
    let per = days_per_period;
    let end = f64::from(days);
    let mut name = String::new();
    for c in 0..customers {
        use std::fmt::Write;
        name.clear();
        let _ = write!(name, "C{:07}", c + 1);
        let number = tx.customer_number(&name);
        let birth = (rng.uniform() * f64::from(birth_days)).floor();
        // Rates per day.
        let lambda = rng.gamma(bgnbd.r) / bgnbd.alpha / per;
        let dropout = rng.beta(bgnbd.a, bgnbd.b);
        let nu = rng.gamma(gamma_gamma.q) / gamma_gamma.gamma;
        let spend =
            |rng: &mut Rng| ((rng.gamma(gamma_gamma.p) / nu * 100.0).round() / 100.0).max(0.01);
        tx.push_numbered(number, start + birth as Day, spend(&mut rng), None);
        let mut t = birth;
        loop {
            t += rng.exponential() / lambda;
            if t >= end {
                break;
            }
            tx.push_numbered(number, start + t.floor() as Day, spend(&mut rng), None);
            if rng.uniform() < dropout {
                break;
            }
        }
    }
    Ok(tx)
}

/// xoshiro256++ seeded through SplitMix64: small, fast and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with mean 1.
    pub fn exponential(&mut self) -> f64 {
        -self.uniform().ln()
    }

    /// Standard normal (Marsaglia's polar method, one of the pair).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s < 1.0 && s > 0.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }

    /// Gamma with this shape and scale 1 (Marsaglia & Tsang 2000; below shape 1 by
    /// boosting to shape + 1 and scaling by U^(1/shape)).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boosted = self.gamma(shape + 1.0);
            return boosted * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform();
            if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// Beta(a, b) from two gammas.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        (
            m,
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn samplers_have_the_right_moments() {
        let mut rng = Rng::new(7);
        for shape in [0.243, 1.0, 3.74, 25.0] {
            let v: Vec<f64> = (0..200_000).map(|_| rng.gamma(shape)).collect();
            let (m, var) = mean_var(&v);
            assert!(
                (m - shape).abs() < 0.02 * shape.max(1.0),
                "gamma({shape}) mean {m}"
            );
            assert!(
                (var - shape).abs() < 0.05 * shape.max(1.0),
                "gamma({shape}) variance {var}"
            );
        }
        let v: Vec<f64> = (0..200_000).map(|_| rng.beta(0.793, 2.426)).collect();
        let (m, _) = mean_var(&v);
        assert!((m - 0.793 / 3.219).abs() < 0.003, "beta mean {m}");
        let v: Vec<f64> = (0..200_000).map(|_| rng.exponential()).collect();
        assert!((mean_var(&v).0 - 1.0).abs() < 0.01);
    }

    #[test]
    fn the_same_seed_gives_the_same_transactions() {
        let p = GeneratorParams::cdnow_like(2_000, 42);
        let a = generate(&p).unwrap();
        let b = generate(&p).unwrap();
        assert_eq!(a.day, b.day);
        assert_eq!(a.amount, b.amount);
        assert_eq!(a.customer, b.customer);
        let c = generate(&GeneratorParams { seed: 43, ..p }).unwrap();
        assert_ne!(a.amount, c.amount);
        // About CDNOW's 2.9 purchases per customer; all inside the window.
        let per_customer = a.len() as f64 / 2_000.0;
        assert!((2.0..4.0).contains(&per_customer), "{per_customer}");
        let (first, last) = a.day_range().unwrap();
        assert!(first >= p.start && last < p.start + p.days as i32);
        assert_eq!(a.name(0), "C0000001");
    }

    #[test]
    fn nonsense_is_refused() {
        let mut p = GeneratorParams::cdnow_like(10, 1);
        p.bgnbd.r = 0.0;
        assert!(generate(&p).is_err());
        let mut p = GeneratorParams::cdnow_like(10, 1);
        p.birth_days = p.days + 1;
        assert!(generate(&p).is_err());
        assert!(generate(&GeneratorParams::cdnow_like(MAX_CUSTOMERS + 1, 1)).is_err());
    }
}

//! A campaign's effect against its hold-out group: the difference of conversion rates
//! (treated − control) with its two-proportion Wald interval (unpooled variances), and
//! the difference of mean spend per member with Welch's interval (unequal variances,
//! Welch–Satterthwaite degrees of freedom). Both at 95 %.
//!
//! The expected values of the tests come from statsmodels
//! (`confint_proportions_2indep(method='wald', compare='diff')` and
//! `CompareMeans.tconfint_diff(usevar='unequal')`), printed by `scripts/uplift_oracle.py`.

/// Groups smaller than this are marked small: their intervals are wide and the normal
/// approximation is rough.
pub const SMALL_GROUP: u64 = 30;

/// The 97.5 % quantile of the standard normal distribution.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// A difference and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// The difference of conversion rates `c1/n1 − c2/n2` with its Wald interval. `None`
/// when a group is empty.
pub fn conversion_uplift(c1: u64, n1: u64, c2: u64, n2: u64) -> Option<Interval> {
    if n1 == 0 || n2 == 0 || c1 > n1 || c2 > n2 {
        return None;
    }
    let (p1, p2) = (c1 as f64 / n1 as f64, c2 as f64 / n2 as f64);
    let se = (p1 * (1.0 - p1) / n1 as f64 + p2 * (1.0 - p2) / n2 as f64).sqrt();
    let d = p1 - p2;
    Some(Interval {
        estimate: d,
        low: d - Z_975 * se,
        high: d + Z_975 * se,
    })
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// The difference of means `mean(a) − mean(b)` with Welch's interval. `None` when a
/// group has fewer than two values or both have no variance.
pub fn welch_difference(a: &[f64], b: &[f64]) -> Option<Interval> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (sa, sb) = (va / na, vb / nb);
    let se2 = sa + sb;
    let d = ma - mb;
    if se2 <= 0.0 {
        return None;
    }
    let df = se2 * se2 / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    let t = student_t_quantile(0.975, df);
    let se = se2.sqrt();
    Some(Interval {
        estimate: d,
        low: d - t * se,
        high: d + t * se,
    })
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-14).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Lentz's guard: a term that is (nearly) zero is replaced by a tiny one.
fn nonzero(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    if x.abs() < TINY {
        TINY
    } else {
        x
    }
}

/// The continued fraction of the regularized incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / nonzero(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / nonzero(1.0 + aa * d);
        c = nonzero(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / nonzero(1.0 + aa * d);
        c = nonzero(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (bisection to machine
/// precision; `p` in (0, 1)).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (-1e3, 1e3);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-13 {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
    }

    /// Expected values: `python3 scripts/uplift_oracle.py` (statsmodels 0.15,
    /// `confint_proportions_2indep(method='wald', compare='diff')`).
    #[test]
    fn wald_interval_matches_statsmodels() {
        let cases = [
            (
                (120, 900, 9, 100),
                (0.043333333333, -0.016993933442, 0.103660600108),
            ),
            ((45, 300, 30, 300), (0.05, -0.002773645364, 0.102773645364)),
            (
                (530, 9000, 41, 1000),
                (0.017888888889, 0.004671567273, 0.031106210504),
            ),
            ((3, 25, 1, 20), (0.07, -0.089216163620, 0.229216163620)),
        ];
        for ((c1, n1, c2, n2), (d, low, high)) in cases {
            let i = conversion_uplift(c1, n1, c2, n2).unwrap();
            close(i.estimate, d);
            close(i.low, low);
            close(i.high, high);
        }
        assert!(conversion_uplift(1, 0, 0, 5).is_none());
    }

    /// Expected values: `python3 scripts/uplift_oracle.py` (statsmodels 0.15,
    /// `CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar='unequal')`).
    #[test]
    fn welch_interval_matches_statsmodels() {
        let a = [
            0.0, 0.0, 1200.0, 3500.0, 0.0, 800.0, 15000.0, 0.0, 420.0, 0.0, 2600.0, 0.0,
        ];
        let b = [0.0, 300.0, 0.0, 0.0, 1800.0, 0.0, 0.0, 500.0];
        let i = welch_difference(&a, &b).unwrap();
        close(i.estimate, 1635.0);
        close(i.low, -1098.666686989186);
        close(i.high, 4368.666686989187);
        let a = [5000.0, 7000.0, 6500.0, 0.0, 0.0, 12000.0, 300.0, 4100.0];
        let b = [4000.0, 0.0, 0.0, 2500.0, 3000.0, 0.0];
        let i = welch_difference(&a, &b).unwrap();
        close(i.estimate, 2779.166666666667);
        close(i.low, -930.508286742740);
        close(i.high, 6488.841620076073);
        assert!(welch_difference(&[1.0], &b).is_none());
    }

    #[test]
    fn t_quantiles_are_the_tables() {
        // Standard tables: t(0.975; 1) = 12.7062, t(0.975; 10) = 2.2281, large df → z.
        assert!((student_t_quantile(0.975, 1.0) - 12.706_204_736).abs() < 1e-6);
        assert!((student_t_quantile(0.975, 10.0) - 2.228_138_852).abs() < 1e-6);
        assert!((student_t_quantile(0.975, 1e7) - Z_975).abs() < 1e-5);
    }
}

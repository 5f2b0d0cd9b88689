//! The special functions the models need: the log of the gamma function (Lanczos), the
//! digamma function, and the Gauss hypergeometric function 2F1 by its power series.

use std::f64::consts::PI;

/// Lanczos coefficients for g = 7, nine terms: about 15 significant digits for x > 0.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
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

/// ln |Γ(x)|. For x below one half the reflection formula is used; at the poles
/// (0, −1, −2, …) the result is +∞.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.5 {
        let s = (PI * x).sin();
        if s == 0.0 {
            return f64::INFINITY;
        }
        return (PI / s.abs()).ln() - ln_gamma(1.0 - x);
    }
    let z = x - 1.0;
    let mut sum = LANCZOS[0];
    for (k, c) in LANCZOS.iter().enumerate().skip(1) {
        sum += c / (z + k as f64);
    }
    let t = z + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

/// The digamma function ψ(x) = d/dx ln Γ(x): the recurrence ψ(x) = ψ(x + 1) − 1/x up to
/// x ≥ 10, then the asymptotic series. Negative arguments by reflection.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // ψ(1 − x) − ψ(x) = π cot(πx)
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    let mut x = x;
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // Bernoulli terms B2k / (2k x^2k) for k = 1..6.
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32_760.0)))));
    acc + x.ln() - 0.5 * inv - series
}

/// The most terms the 2F1 series may take: enough for |z| up to about 0.999 with the
/// parameters the models produce; beyond it the result is NaN rather than a wrong number.
pub const HYP2F1_MAX_TERMS: usize = 1_000_000;

/// The Gauss hypergeometric function 2F1(a, b; c; z) summed as its power series, for
/// |z| < 1 (NaN otherwise, or when c is zero or a negative integer, or when the series
/// has not converged within [`HYP2F1_MAX_TERMS`] terms).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z.is_nan() || z.abs() >= 1.0 || (c <= 0.0 && c == c.floor()) {
        return f64::NAN;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..HYP2F1_MAX_TERMS {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term == 0.0 {
            return sum;
        }
        // Stop once a term no longer changes the sum and the terms are shrinking (they
        // may grow for a while first when a + b > c).
        if term.abs() <= 1e-16 * sum.abs()
            && ((a + n + 1.0) * (b + n + 1.0) * z).abs() < ((c + n + 1.0) * (n + 2.0)).abs()
        {
            return sum;
        }
    }
    f64::NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1.0)
    }

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        let mut fact = 1.0f64;
        for n in 1..30 {
            // Γ(n) = (n − 1)!
            assert!(close(ln_gamma(n as f64), fact.ln(), 1e-13), "ln_gamma({n})");
            fact *= n as f64;
        }
        // Γ(1/2) = √π, Γ(5/2) = 3√π/4
        assert!(close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14));
        assert!(close(ln_gamma(2.5), (0.75 * PI.sqrt()).ln(), 1e-14));
        // Γ(−1/2) = −2√π, reflected: ln|Γ| = ln(2√π)
        assert!(close(ln_gamma(-0.5), (2.0 * PI.sqrt()).ln(), 1e-13));
        assert!(ln_gamma(0.0).is_infinite());
        // Large arguments against Stirling with its first corrections.
        let x: f64 = 1234.5;
        let stirling = (x - 0.5) * x.ln() - x + 0.5 * (2.0 * PI).ln() + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x.powi(3));
        assert!(close(ln_gamma(x), stirling, 1e-14));
        // Small arguments: Γ(x) ≈ 1/x − γ near zero.
        let x = 1e-8;
        assert!(close(
            ln_gamma(x),
            (1.0 / x - 0.577_215_664_901_532_9).ln(),
            1e-12
        ));
    }

    #[test]
    fn digamma_matches_known_values_and_the_derivative_of_ln_gamma() {
        let euler = 0.577_215_664_901_532_9;
        assert!(close(digamma(1.0), -euler, 1e-14));
        assert!(close(digamma(0.5), -euler - 2.0 * 2f64.ln(), 1e-14));
        // ψ(n + 1) = H_n − γ
        let h10: f64 = (1..=10).map(|k| 1.0 / k as f64).sum();
        assert!(close(digamma(11.0), h10 - euler, 1e-14));
        for &x in &[0.07, 0.3, 1.7, 4.2, 9.9, 55.0, 1e4] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(close(digamma(x), numeric, 1e-7), "digamma({x})");
        }
        assert!(close(
            digamma(-0.5),
            digamma(1.5) - PI / (-0.5 * PI).tan(),
            1e-14
        ));
        assert!(digamma(-2.0).is_nan());
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1 − z)/z
        for &z in &[-0.9, -0.3, 0.1, 0.5, 0.9, 0.99] {
            let exact = -(1.0f64 - z).ln() / z;
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z), exact, 1e-13), "z = {z}");
        }
        // 2F1(a, b; b; z) = (1 − z)^−a
        assert!(close(hyp2f1(2.3, 0.7, 0.7, 0.6), 0.4f64.powf(-2.3), 1e-13));
        // 2F1(1/2, 1/2; 3/2; z²) = arcsin(z)/z
        let z: f64 = 0.8;
        assert!(close(hyp2f1(0.5, 0.5, 1.5, z * z), z.asin() / z, 1e-13));
        // A terminating series: 2F1(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1))
        let (b, c, z) = (1.5, 2.5, 0.4);
        let exact = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!(close(hyp2f1(-2.0, b, c, z), exact, 1e-14));
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_nan());
    }
}

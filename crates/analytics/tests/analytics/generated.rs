//! Data drawn from the models with known parameters: the fits must find them again, and
//! the predictions must match what the simulated customers then do.

use forecourt_analytics::bgnbd::{self, BgNbdData, BgNbdParams};
use forecourt_analytics::clv::{clv_report, ClvOptions};
use forecourt_analytics::gamma_gamma::{self, GammaGammaData, GammaGammaParams};
use forecourt_analytics::generate::{generate, GeneratorParams};
use forecourt_analytics::summary::{holdout_purchases, summarise, Histories, Period};

/// CDNOW-like data drawn at a resolution where whole days lose nothing: one period is
/// 700 days (a hundred weeks), so two purchases of a customer almost never fall on the
/// same day. On real daily data the heaviest buyers' same-day purchases merge, which
/// moves α up by a few per cent (about 6 % at CDNOW's parameters).
fn fine_grained(customers: usize, seed: u64) -> (GeneratorParams, f64) {
    let stretch = 100.0;
    let mut params = GeneratorParams::cdnow_like(customers, seed);
    params.days_per_period *= stretch;
    params.birth_days = (f64::from(params.birth_days) * stretch) as u32;
    params.days = (f64::from(params.days) * stretch) as u32;
    (params, params.days_per_period)
}

#[test]
fn fits_recover_the_parameters_the_data_was_drawn_with() {
    let (params, days_per_period) = fine_grained(400_000, 2024);
    let tx = generate(&params).unwrap();
    let histories = Histories::new(&tx);
    // 39 periods of calibration, then 39 of holdout.
    let calibration_days = (39.0 * days_per_period) as i32;
    let calibration_end = params.start + calibration_days - 1;
    let mut s = summarise(&tx, &histories, calibration_end, Period::Day);
    assert_eq!(s.len(), 400_000);
    s.recency.iter_mut().for_each(|v| *v /= days_per_period);
    s.t.iter_mut().for_each(|v| *v /= days_per_period);
    let bg = bgnbd::fit(&BgNbdData::new(&s.frequency, &s.recency, &s.t).unwrap()).unwrap();
    let truth = params.bgnbd;
    let p = bg.params;
    eprintln!(
        "BG/NBD drawn with {truth:?}, fitted {p:?} ({} groups)",
        bg.groups
    );
    let near = |fitted: f64, true_value: f64, relative: f64| {
        (fitted - true_value).abs() <= relative * true_value
    };
    assert!(near(p.r, truth.r, 0.04), "r {}", p.r);
    assert!(near(p.alpha, truth.alpha, 0.04), "alpha {}", p.alpha);
    assert!(near(p.a, truth.a, 0.08), "a {}", p.a);
    assert!(near(p.b, truth.b, 0.08), "b {}", p.b);

    let gg = gamma_gamma::fit(&GammaGammaData::new(&s.frequency, &s.monetary).unwrap()).unwrap();
    let (g, gt) = (gg.params, params.gamma_gamma);
    eprintln!("Gamma-Gamma drawn with {gt:?}, fitted {g:?}");
    // p and q/γ trade off against each other; the population mean pγ/(q−1) is sharp.
    assert!(near(g.p, gt.p, 0.05), "p {}", g.p);
    assert!(near(g.q, gt.q, 0.1), "q {}", g.q);
    assert!(
        near(g.population_mean(), gt.population_mean(), 0.02),
        "mean {}",
        g.population_mean()
    );

    // The holdout as the model foresaw it, in total.
    let holdout_end = calibration_end + calibration_days;
    let actual: u32 = holdout_purchases(&tx, &histories, &s, calibration_end, holdout_end)
        .iter()
        .sum();
    let predicted: f64 = p
        .conditional_expected_purchases_batch(39.0, &s.frequency, &s.recency, &s.t)
        .iter()
        .sum();
    eprintln!("holdout purchases: predicted {predicted:.0}, actual {actual}");
    assert!(
        near(predicted, f64::from(actual), 0.02),
        "predicted {predicted}, actual {actual}"
    );
}

#[test]
fn p_alive_and_expectations_are_calibrated_by_recency() {
    // Customers sorted by P(alive) into bands: in each band the mean prediction of the
    // next 26 weeks must match what the band then bought.
    let params = GeneratorParams::cdnow_like(60_000, 7);
    let tx = generate(&params).unwrap();
    let calibration_end = params.start + 272;
    let report = clv_report(
        &tx,
        &ClvOptions {
            calibration_end,
            period: Period::Week,
            horizon: 26,
            discount_rate: 0.0,
        },
    )
    .unwrap();
    let histories = Histories::new(&tx);
    let actual = holdout_purchases(
        &tx,
        &histories,
        &report.summary,
        calibration_end,
        calibration_end + 182,
    );
    let bands = [(0.0, 0.3), (0.3, 0.6), (0.6, 0.999), (0.999, 1.01)];
    for (low, high) in bands {
        let members: Vec<usize> = (0..report.summary.len())
            .filter(|&i| report.p_alive[i] >= low && report.p_alive[i] < high)
            .collect();
        let predicted: f64 = members
            .iter()
            .map(|&i| report.expected_transactions[i])
            .sum();
        let bought: u32 = members.iter().map(|&i| actual[i]).sum();
        eprintln!(
            "P(alive) in [{low}, {high}): {} customers, predicted {predicted:.0}, bought {bought}",
            members.len()
        );
        assert!(members.len() > 1_000);
        assert!(
            (predicted - f64::from(bought)).abs() <= 0.1 * f64::from(bought),
            "band [{low}, {high}): predicted {predicted}, bought {bought}"
        );
    }
    // Lifetime value is expected purchases times expected spend when undiscounted.
    for i in 0..100 {
        let v = report.expected_transactions[i] * report.expected_average_value[i];
        assert!((report.expected_value[i] - v).abs() <= 1e-9 * v.max(1.0));
    }
}

#[test]
fn fits_recover_a_fuel_like_regime_too() {
    // Drivers who fill up about weekly and rarely leave, spending about 285 a fill with
    // little spread: far from CDNOW, and far from where the fits start.
    let (mut params, days_per_period) = fine_grained(100_000, 99);
    params.bgnbd = BgNbdParams {
        r: 3.0,
        alpha: 3.0,
        a: 0.6,
        b: 12.0,
    };
    params.gamma_gamma = GammaGammaParams {
        p: 20.0,
        q: 8.0,
        gamma: 100.0,
    };
    let tx = generate(&params).unwrap();
    let histories = Histories::new(&tx);
    let calibration_end = params.start + (39.0 * days_per_period) as i32 - 1;
    let mut s = summarise(&tx, &histories, calibration_end, Period::Day);
    s.recency.iter_mut().for_each(|v| *v /= days_per_period);
    s.t.iter_mut().for_each(|v| *v /= days_per_period);
    let bg = bgnbd::fit(&BgNbdData::new(&s.frequency, &s.recency, &s.t).unwrap()).unwrap();
    let (p, truth) = (bg.params, params.bgnbd);
    eprintln!(
        "BG/NBD drawn with {truth:?}, fitted {p:?} in {} evaluations",
        bg.evaluations
    );
    let near = |fitted: f64, true_value: f64, relative: f64| {
        (fitted - true_value).abs() <= relative * true_value
    };
    assert!(near(p.r, truth.r, 0.05), "r {}", p.r);
    assert!(near(p.alpha, truth.alpha, 0.05), "alpha {}", p.alpha);
    assert!(near(p.a, truth.a, 0.1), "a {}", p.a);
    assert!(near(p.b, truth.b, 0.1), "b {}", p.b);
    let gg = gamma_gamma::fit(&GammaGammaData::new(&s.frequency, &s.monetary).unwrap()).unwrap();
    let (g, gt) = (gg.params, params.gamma_gamma);
    eprintln!(
        "Gamma-Gamma drawn with {gt:?}, fitted {g:?} in {} evaluations",
        gg.evaluations
    );
    assert!(near(g.p, gt.p, 0.05), "p {}", g.p);
    assert!(
        near(g.population_mean(), gt.population_mean(), 0.02),
        "mean {}",
        g.population_mean()
    );
}

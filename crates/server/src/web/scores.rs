//! Each member's predictions for the 360° profile: the next visit (refuel cycle), the
//! churn risk (the logistic model of `forecourt-analytics`) and the CLV (BG/NBD with
//! Gamma-Gamma). The models are fitted on the whole network's member sales, which
//! takes seconds, so they are computed in the background and kept for six hours; the
//! profile shows "being computed" until the first fit is ready.

use crate::analytics_api::transactions;
use crate::AppState;
use forecourt_analytics::churn::{self, ChurnParams};
use forecourt_analytics::clv::{clv_report, ClvOptions};
use forecourt_analytics::refuel::{refuel_cycles, RefuelParams};
use forecourt_analytics::summary::{default_as_of, Histories, Period};
use forecourt_analytics::transactions::{date_of, Day};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FRESH_FOR: Duration = Duration::from_secs(6 * 3600);

/// One member's predictions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub next_visit: Option<String>,
    pub typical_interval_days: Option<f64>,
    pub churn_probability: Option<f64>,
    pub p_alive: Option<f64>,
    /// Expected spend over the next 52 weeks, in yuan.
    pub clv_yuan: Option<f64>,
}

#[derive(Default)]
struct Inner {
    scores: Option<(Instant, Arc<HashMap<String, Score>>)>,
    running: bool,
}

/// The cache; one per server.
#[derive(Default, Clone)]
pub struct Scores(Arc<Mutex<Inner>>);

pub enum Lookup {
    Ready(Option<Score>),
    Computing,
}

impl Scores {
    /// The member's score, starting a fit in the background when there is none or it
    /// is stale.
    pub fn get(&self, state: &AppState, customer_id: &str) -> Lookup {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let stale = g
            .scores
            .as_ref()
            .is_none_or(|(t, _)| t.elapsed() > FRESH_FOR);
        if stale && !g.running {
            g.running = true;
            let me = self.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let result = compute(&state).await;
                let mut g = me.0.lock().unwrap_or_else(|e| e.into_inner());
                g.running = false;
                match result {
                    Ok(map) => g.scores = Some((Instant::now(), Arc::new(map))),
                    Err(e) => tracing::warn!(error = %e, "member predictions failed"),
                }
            });
        }
        match &g.scores {
            Some((_, map)) => Lookup::Ready(map.get(customer_id).cloned()),
            None => Lookup::Computing,
        }
    }
}

async fn compute(state: &AppState) -> anyhow::Result<HashMap<String, Score>> {
    let started = Instant::now();
    let data = state.cache().member_sales(state.store()).await?;
    let map = tokio::task::spawn_blocking(move || score_all(&data.0, &data.1)).await?;
    tracing::info!(
        members = map.len(),
        secs = started.elapsed().as_secs_f64(),
        "member predictions ready"
    );
    Ok(map)
}

/// Scores every member from their sales `(customer, at_us, net_fen, volume_ml)`.
pub fn score_all(sales: &[(String, i64, i64, i64)], never: &[String]) -> HashMap<String, Score> {
    let tx = transactions(sales, never);
    let mut out: HashMap<String, Score> = HashMap::new();
    let Some(as_of) = default_as_of(&tx) else {
        return out;
    };
    let h = Histories::new(&tx);
    for r in refuel_cycles(&tx, &h, as_of, &RefuelParams::default()) {
        let s = out.entry(tx.name(r.customer).to_string()).or_default();
        s.next_visit = r.next_visit.map(|d: Day| date_of(d).to_string());
        s.typical_interval_days = r.typical_interval_days;
    }
    let params = ChurnParams::default();
    let n = params.horizon_days as Day;
    if let Ok((model, _)) = churn::fit_at(&tx, &h, as_of - n, &params) {
        for f in churn::dataset(&tx, &h, as_of, &params).features {
            out.entry(tx.name(f.customer).to_string())
                .or_default()
                .churn_probability = Some(model.probability(&f));
        }
    }
    let options = ClvOptions {
        calibration_end: as_of,
        period: Period::Week,
        horizon: 52,
        discount_rate: 0.0,
    };
    if let Ok(r) = clv_report(&tx, &options) {
        for i in 0..r.summary.len() {
            let s = out
                .entry(tx.name(r.summary.customer[i]).to_string())
                .or_default();
            s.p_alive = Some(r.p_alive[i]);
            s.clv_yuan = Some(r.expected_value[i]).filter(|v| v.is_finite());
        }
    }
    out
}

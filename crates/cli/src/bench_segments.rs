//! `forecourt bench segments`: how long evaluating segments takes on a network's live
//! data (e.g. the demo's 20,000 members and a year of sales), for profile, behaviour
//! and analytics filters: the first evaluation (which reads the members' sales and, for
//! analytics keys, fits the models once per version of the sales) and the median of
//! the next ones.

use forecourt_app::segments::{evaluate, Filter};
use forecourt_app::App;
use serde_json::json;
use std::time::{Duration, Instant};

pub async fn run(app: &App, runs: usize) -> anyhow::Result<()> {
    let filters = [
        ("everyone", json!({})),
        (
            "profile",
            json!({"tier_in": ["vip", "svip"], "consent_marketing": true}),
        ),
        (
            "behaviour",
            json!({"visits_min": 4, "spend_fen_min": 100_000, "window_days": 90}),
        ),
        (
            "analytics",
            json!({"rfm_segment_in": ["at_risk", "cant_lose", "hibernating"], "churn_risk_min": 0.5}),
        ),
        (
            "all keys",
            json!({"consent_marketing": true, "last_visit_before": "2099-01-01", "visits_min": 1,
                   "lifecycle_stage_in": ["loyal", "floating", "lapsed"], "abc_class_in": ["A", "B", "C"],
                   "next_refuel_within_days": 365}),
        ),
    ];
    let members = app.store().segment_members().await?.len();
    println!("members: {members}");
    for (name, v) in filters {
        let filter = Filter::parse(&v).map_err(|e| anyhow::anyhow!(e.message))?;
        let now = app.clock().now_us();
        let started = Instant::now();
        let size = evaluate(app, &filter, "company", "", now)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?
            .len();
        let first = started.elapsed();
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            evaluate(app, &filter, "company", "", now)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            times.push(started.elapsed());
        }
        times.sort();
        let median = times.get(times.len() / 2).copied().unwrap_or(first);
        println!(
            "{name}: {size} members; first {:.0} ms, then median {:.0} ms over {runs} runs",
            first.as_secs_f64() * 1000.0,
            median.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

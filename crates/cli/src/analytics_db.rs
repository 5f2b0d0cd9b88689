//! Live data for the analytics commands (`--db URL`): the members' sales of a Forecourt
//! database as transactions, net of refunds, by local day in China Standard Time.

use forecourt_analytics::transactions::Transactions;

/// Reads the members' sales of the database at `url`.
pub fn load(url: &str) -> anyhow::Result<Transactions> {
    let url = url.to_string();
    // The commands are synchronous; the store is async: run the read on the runtime.
    let (sales, never) = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async move {
            let (_, store) = crate::open_existing(&url).await?;
            let rows = store.member_sales().await?;
            store.close().await;
            anyhow::Ok(rows)
        })
    })?;
    Ok(transactions(&sales, &never))
}

/// Every sale of the database at `url`, as `forecourt export sales` writes them (CSV).
pub fn export_sales(url: &str) -> anyhow::Result<Vec<u8>> {
    let url = url.to_string();
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async move {
            let (_, store) = crate::open_existing(&url).await?;
            let mut out = Vec::new();
            forecourt_app::export::export_sales(
                &store,
                &mut out,
                &forecourt_app::export::SalesExport {
                    from: None,
                    to: None,
                    station_code: None,
                },
                |_| {},
            )
            .await?;
            store.close().await;
            anyhow::Ok(out)
        })
    })
}

/// Builds the transactions (the server's rule, shared with the API).
pub fn transactions(sales: &[(String, i64, i64, i64)], never: &[String]) -> Transactions {
    forecourt_app::analytics::transactions(sales, never)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_yuan_and_litres() {
        // 2026-11-20 23:30 in Beijing is 15:30 UTC: the local day is the 20th; 16:30 UTC
        // is already the 21st.
        let t20 = 1_795_188_600_000_000; // 2026-11-20T15:30:00Z
        let sales = vec![
            ("a".to_string(), t20, 30_050, 40_000),
            ("a".to_string(), t20 + 3_600_000_000, 1_000, 0),
        ];
        let tx = transactions(&sales, &["b".to_string()]);
        assert_eq!(tx.len(), 2);
        assert_eq!(tx.customers(), 2);
        let days: Vec<_> = (0..tx.len())
            .map(|i| forecourt_analytics::transactions::date_of(tx.day[i]).to_string())
            .collect();
        assert_eq!(days, ["2026-11-20", "2026-11-21"]);
        assert!((tx.amount[0] - 300.5).abs() < 1e-9);
        assert_eq!(tx.volume.as_ref().map(|v| v[0]), Some(40.0));
    }
}

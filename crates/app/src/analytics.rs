//! The members' sales in the shape `forecourt-analytics` reads.

use chrono::DateTime;
use forecourt_analytics::transactions::{day_of, Transactions};

/// China Standard Time, the network's local time (UTC+8, no daylight saving).
const CST_OFFSET_US: i64 = 8 * 3_600_000_000;

/// The members' sales as transactions: amounts in yuan net of refunds, volumes in
/// litres, days in local time; members who never bought are customers without
/// purchases.
pub fn transactions(sales: &[(String, i64, i64, i64)], never: &[String]) -> Transactions {
    let mut tx = Transactions::new(true);
    for (customer, at_us, net_fen, volume_ml) in sales {
        let local = DateTime::from_timestamp_micros(at_us + CST_OFFSET_US)
            .unwrap_or_default()
            .date_naive();
        tx.push(
            customer,
            day_of(local),
            *net_fen as f64 / 100.0,
            Some(*volume_ml as f64 / 1000.0),
        );
    }
    for customer in never {
        tx.add_customer(customer);
    }
    tx
}

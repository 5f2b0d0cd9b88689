//! Bulk import of sales: bad rows reported with their line, good ones applied once.

use crate::harness::*;

#[tokio::test]
async fn import_reports_bad_rows_applies_good_ones_once() {
    let app = spawn_app().await;
    let card = app.funded_card("13512340000", 10_000).await;
    let csv = format!(
        "pos_txn_id,station_code,occurred_at,card_no,product_code,volume_ml,quantity,unit_price_fen,payment_method,payment_amount_fen,payment_card_no\n\
         I1,S001,{NOW},{card},GASOLINE_92,10000,,700,card,7000,{card}\n\
         I2,S001,{NOW},,CAR_WASH,,1,2000,cash,2000,\n\
         I2,S001,{NOW},,GASOLINE_92,1000,,700,cash,700,\n\
         I3,S001,{NOW},,GASOLINE_92,abc,,700,cash,700,\n\
         I4,S009,{NOW},,GASOLINE_92,1000,,700,cash,700,\n\
         I5,S001,{NOW},{card},GASOLINE_92,100000,,700,card,70000,{card}\n\
         I6,S001,yesterday,,GASOLINE_92,1000,,700,cash,700,\n\
         I7,S001,{NOW},,GASOLINE_92,1000,,700,cash,1,\n"
    );
    let state = forecourt_server::AppState::new(
        app.store.clone(),
        forecourt_server::Secret::from_bytes([7; 32]),
        Default::default(),
    );
    let expected = [
        (5, "validation_failed"),
        (6, "unknown_station"),
        (7, "insufficient_balance"),
        (8, "validation_failed"),
        (9, "payment_mismatch"),
    ];
    let report = forecourt_server::import::import_sales(&state, csv.as_bytes(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (
            report.rows,
            report.sales_imported,
            report.sales_already_present
        ),
        (8, 2, 0),
        "{report:?}"
    );
    let got: Vec<(usize, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.code.as_str()))
        .collect();
    assert_eq!(got, expected, "each bad row with its line and reason");
    assert!(
        report.rejected[0].message.contains("volume_ml"),
        "{:?}",
        report.rejected[0]
    );
    assert_eq!(app.balance(&card).await, 3_000);
    let sales_before = app.store.check().await.unwrap().sales;
    assert_eq!(sales_before, 2);
    // The same file again changes nothing.
    let again = forecourt_server::import::import_sales(&state, csv.as_bytes(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (again.sales_imported, again.sales_already_present),
        (0, 2),
        "{again:?}"
    );
    let got: Vec<(usize, &str)> = again
        .rejected
        .iter()
        .map(|r| (r.line, r.code.as_str()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(app.balance(&card).await, 3_000);
    assert_eq!(app.store.check().await.unwrap().sales, 2);
    app.assert_clean().await;
}

#[tokio::test]
async fn import_refuses_a_file_without_the_required_columns() {
    let app = spawn_app().await;
    let state = forecourt_server::AppState::new(
        app.store.clone(),
        forecourt_server::Secret::from_bytes([7; 32]),
        Default::default(),
    );
    let err = forecourt_server::import::import_sales(
        &state,
        "pos_txn_id,station_code\nX,S001\n".as_bytes(),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("occurred_at"), "{err}");
}

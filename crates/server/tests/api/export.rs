//! Exporting sales as the import CSV: the file imported into a copy of the network taken
//! before the sales gives the same sales, balances and points.

use crate::harness::*;
use axum::http::StatusCode;
use forecourt_server::export::{export_sales, SalesExport, COLUMNS};
use forecourt_server::import::import_sales;
use forecourt_server::{AppState, Secret};
use forecourt_store::network::{export_network, import_network};
use forecourt_store::{testing, Store, Vault};
use serde_json::json;

async fn export(store: &Store, what: SalesExport) -> (String, usize) {
    let mut out = Vec::new();
    let report = export_sales(store, &mut out, &what, |_| {}).await.unwrap();
    (String::from_utf8(out).unwrap(), report.sales)
}

fn date(s: &str) -> Option<chrono::NaiveDate> {
    Some(s.parse().unwrap())
}

#[tokio::test]
async fn exported_sales_import_into_a_copy_of_the_network_as_they_were() {
    let app = spawn_app().await;
    let card = app.funded_card("13512340001", 50_000).await;
    let member = app.customer("individual", "13512340002", json!({})).await;
    let (st, v) = app
        .post(
            "/api/v1/coupons",
            &app.admin,
            json!({"code": "C-EXPORT-1", "amount_fen": 500, "valid_from": "2026-01-01T00:00:00+08:00"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    // The network as it was before the sales.
    let snapshot = std::env::temp_dir()
        .join("forecourt-tests")
        .join(format!("sales-snapshot-{}", forecourt_store::new_id()));
    export_network(&app.store, &snapshot, |_, _| {})
        .await
        .unwrap();

    // A card sale; two lines paid in cash; one line paid by card, coupon and cash; two
    // lines paid two ways at another station for a member found by phone; EV charging
    // with a fraction of a second on the next day.
    let (st, v) = app
        .card_sale(&card, "GASOLINE_95", 10_000, "E1", json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let sales = [
        (
            app.pos1.clone(),
            json!({"pos_txn_id": "E2", "station_code": "S001", "occurred_at": "2026-11-20T09:00:00+08:00",
                "lines": [{"product_code": "CAR_WASH", "quantity": 1, "unit_price_fen": 2000},
                          {"product_code": "GASOLINE_92", "volume_ml": 5000, "unit_price_fen": 742}],
                "payments": [{"method": "cash", "amount_fen": 5710}]}),
        ),
        (
            app.pos1.clone(),
            json!({"pos_txn_id": "E3", "station_code": "S001", "occurred_at": "2026-11-20T09:30:00+08:00",
                "customer": {"card_no": card},
                "lines": [{"product_code": "GASOLINE_92", "volume_ml": 10000, "unit_price_fen": 700, "pump_no": 4}],
                "payments": [{"method": "card", "card_no": card, "amount_fen": 4000},
                             {"method": "coupon", "coupon_code": "C-EXPORT-1", "amount_fen": 500},
                             {"method": "cash", "amount_fen": 2500}]}),
        ),
        (
            app.pos2.clone(),
            json!({"pos_txn_id": "E4", "station_code": "S002", "occurred_at": "2026-11-20T10:00:00+08:00",
                "customer": {"phone": "13512340002"},
                "lines": [{"product_code": "GASOLINE_95", "volume_ml": 20000, "unit_price_fen": 789},
                          {"product_code": "CAR_WASH", "quantity": 1, "unit_price_fen": 1500}],
                "payments": [{"method": "wechat", "amount_fen": 10000},
                             {"method": "alipay", "amount_fen": 7280}]}),
        ),
        (
            app.pos1.clone(),
            json!({"pos_txn_id": "E5", "station_code": "S001", "occurred_at": "2026-11-21T10:15:30.5+08:00",
                "lines": [{"product_code": "EV_CHARGE", "quantity": 30000, "unit_price_fen": 150}],
                "payments": [{"method": "cash", "amount_fen": 4500}]}),
        ),
    ];
    for (token, body) in sales {
        // Each sale is live at its time.
        app.set_now(body["occurred_at"].as_str().unwrap());
        let (st, v) = app.post("/api/v1/pos/sales", &token, body).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }

    let (csv, n) = export(&app.store, SalesExport::default()).await;
    assert_eq!(n, 5);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], COLUMNS.join(","));
    assert_eq!(rows.len(), 1 + 1 + 2 + 3 + 2 + 1, "{csv}");
    let member_code = app
        .store
        .customer(&member)
        .await
        .unwrap()
        .unwrap()
        .member_code;
    let e3: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|r| r.starts_with("E3,"))
        .collect();
    assert_eq!(
        e3,
        [
            format!("E3,S001,2026-11-20T09:30:00+08:00,{card},,GASOLINE_92,10000,,700,7000,card,4000,{card},"),
            "E3,S001,2026-11-20T09:30:00+08:00,".to_string() + &card + ",,,,,,,coupon,500,,C-EXPORT-1",
            "E3,S001,2026-11-20T09:30:00+08:00,".to_string() + &card + ",,,,,,,cash,2500,,",
        ]
    );
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("E4,")).count(),
        2,
        "{csv}"
    );
    assert!(
        csv.contains(&format!("E4,S002,2026-11-20T10:00:00+08:00,,{member_code},GASOLINE_95,20000,,789,15780,wechat,10000,,")),
        "{csv}"
    );
    assert!(
        csv.contains(
            "E5,S001,2026-11-21T10:15:30.500+08:00,,,EV_CHARGE,,30000,150,4500,cash,4500,,"
        ),
        "{csv}"
    );

    // Filters: one station, business days.
    let (s2, n) = export(
        &app.store,
        SalesExport {
            station_code: Some("S002".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(n, 1);
    assert!(
        s2.lines().skip(1).all(|r| r.starts_with("E4,S002,")),
        "{s2}"
    );
    let (day2, n) = export(
        &app.store,
        SalesExport {
            from: date("2026-11-21"),
            to: date("2026-11-21"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(n, 1, "{day2}");
    assert!(day2.lines().nth(1).unwrap().starts_with("E5,"));
    let (day1, n) = export(
        &app.store,
        SalesExport {
            to: date("2026-11-20"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((n, day1.lines().count()), (4, 9));
    let (none, n) = export(
        &app.store,
        SalesExport {
            from: date("2026-11-22"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((n, none.lines().count()), (0, 1));

    // A copy of the network without the sales takes the file and ends up the same.
    let url = testing::fresh_db().await.unwrap();
    let copy = Store::open(&url, Vault::for_tests()).await.unwrap();
    import_network(&copy, &snapshot, |_, _, _| {})
        .await
        .unwrap();
    let state = AppState::new(
        copy.clone(),
        Secret::from_bytes([7; 32]),
        Default::default(),
    );
    let report = import_sales(&state, csv.as_bytes(), |_, _| {})
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(
        (
            report.rows,
            report.sales_imported,
            report.sales_already_present
        ),
        (9, 5, 0)
    );
    let (again, _) = export(&copy, SalesExport::default()).await;
    assert_eq!(again, csv, "the copy exports the same file");
    let card_id = app.store.card_by_no(&card).await.unwrap().unwrap().card_id;
    let paid = |s: Store| {
        let card_id = card_id.clone();
        async move { s.card_balance(&card_id).await.unwrap().paid_fen }
    };
    assert_eq!(paid(copy.clone()).await, paid(app.store.clone()).await);
    let owner = app
        .store
        .card_by_no(&card)
        .await
        .unwrap()
        .unwrap()
        .customer_id
        .unwrap();
    for customer in [&owner, &member] {
        assert_eq!(
            copy.points_balance(customer).await.unwrap(),
            app.store.points_balance(customer).await.unwrap(),
            "points of {customer}"
        );
    }
    assert!(copy.points_balance(&member).await.unwrap() > 0);
    let check = copy.check().await.unwrap();
    assert!(check.is_clean(), "{:?}", check.problems);
    assert_eq!(check.sales, app.store.check().await.unwrap().sales);

    // The same file again finds every sale already there.
    let report = import_sales(&state, csv.as_bytes(), |_, _| {})
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(
        (report.sales_imported, report.sales_already_present),
        (0, 5)
    );
    assert_eq!(copy.check().await.unwrap().sales, 5);
}

#[tokio::test]
async fn a_payment_only_row_must_continue_a_sale() {
    let app = spawn_app().await;
    let state = AppState::new(
        app.store.clone(),
        Secret::from_bytes([7; 32]),
        Default::default(),
    );
    let csv = format!(
        "{}\n\
         P1,S001,{NOW},,,,,,,,cash,700,,\n\
         P2,S001,{NOW},,,GASOLINE_92,1000,,700,,cash,300,,\n\
         P2,S001,{NOW},,,,,,,,wechat,400,,\n\
         P3,S001,{NOW},,,,,,,,,,,\n",
        COLUMNS.join(",")
    );
    let report = import_sales(&state, csv.as_bytes(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.sales_imported, 1, "{report:?}");
    let got: Vec<(usize, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.code.as_str()))
        .collect();
    assert_eq!(got, [(2, "validation_failed"), (5, "validation_failed")]);
    assert!(report.rejected[1].message.contains("product_code"));
}

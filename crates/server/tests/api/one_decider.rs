//! One decider: the same random sequences of sales and recharges, sent through the live
//! POS (the router) into one fresh database and through the bulk poster (the path of the
//! import and the simulator) into another, leave the same balances, points, tiers and
//! totals. A rule changed on one path only makes a sequence disagree.

use crate::harness::*;
use axum::http::StatusCode;
use forecourt_app::bulk::{LineIn, PayIn, Poster, SaleIn, Who};
use proptest::prelude::*;
use serde_json::{json, Value};

const MEMBERS: usize = 3;
const PRODUCTS: [&str; 3] = ["GASOLINE_92", "DIESEL_0", "CAR_WASH"];

#[derive(Debug, Clone)]
enum Op {
    /// A member's sale of `amount` (millilitres of fuel or car washes), identified by
    /// card or by phone, paid by the member's card or in cash.
    Sale {
        member: usize,
        product: usize,
        amount: i64,
        by_card: bool,
        pay_card: bool,
    },
    Recharge {
        member: usize,
        fen: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..MEMBERS, 0..PRODUCTS.len(), 1_000i64..80_000, any::<bool>(), any::<bool>())
            .prop_map(|(member, product, amount, by_card, pay_card)| Op::Sale {
                member,
                product,
                amount: if product == 2 { 1 + amount % 2 } else { amount },
                by_card: by_card || pay_card,
                pay_card,
            }),
        1 => (0..MEMBERS, 1i64..3_000).prop_map(|(member, hundreds)| Op::Recharge {
            member,
            fen: hundreds * 100,
        }),
    ]
}

struct Member {
    id: String,
    phone: String,
    card: String,
}

async fn members(app: &App) -> Vec<Member> {
    let mut out = Vec::new();
    for i in 0..MEMBERS {
        let phone = format!("1390000{:04}", 100 + i);
        let id = app.customer("individual", &phone, json!({})).await;
        let card = app
            .card(json!({"customer_id": id, "kind": "personal"}))
            .await;
        out.push(Member { id, phone, card });
    }
    out
}

fn unit_price(product: usize) -> i64 {
    [789, 752, 2_000][product]
}

fn line(product: usize, amount: i64) -> (Option<i64>, Option<i64>) {
    if product == 2 {
        (None, Some(amount))
    } else {
        (Some(amount), None)
    }
}

/// Sends one operation through the POS API; the outcome is the HTTP status class and
/// error code, and the net amount and points of a sale.
async fn through_pos(app: &App, ms: &[Member], n: usize, op: &Op) -> (String, i64, i64) {
    match op {
        Op::Sale {
            member,
            product,
            amount,
            by_card,
            pay_card,
        } => {
            let m = &ms[*member];
            let (volume_ml, quantity) = line(*product, *amount);
            let who = if *by_card {
                json!({"card_no": m.card})
            } else {
                json!({"phone": m.phone})
            };
            let mut body = sale_body(
                &format!("T{n}"),
                "S001",
                who,
                json!([{"product_code": PRODUCTS[*product], "volume_ml": volume_ml, "quantity": quantity, "unit_price_fen": unit_price(*product)}]),
            );
            let (st, q) = app
                .post("/api/v1/pos/quotes", &app.pos1.clone(), body.clone())
                .await;
            assert_eq!(st, StatusCode::OK, "{q}");
            let net = q["net_amount_fen"].clone();
            body["payments"] = if *pay_card {
                json!([{"method": "card", "card_no": m.card, "amount_fen": net}])
            } else {
                json!([{"method": "cash", "amount_fen": net}])
            };
            let (st, v) = app.post("/api/v1/pos/sales", &app.pos1.clone(), body).await;
            outcome(st, &v, "net_amount_fen")
        }
        Op::Recharge { member, fen } => {
            let (st, v) = app
                .recharge(&ms[*member].card, *fen, &format!("T{n}"))
                .await;
            outcome(st, &v, "bonus_fen")
        }
    }
}

fn outcome(st: StatusCode, v: &Value, amount: &str) -> (String, i64, i64) {
    if st == StatusCode::CREATED {
        (
            "ok".into(),
            v[amount].as_i64().unwrap_or(0),
            v["points_earned"].as_i64().unwrap_or(0),
        )
    } else {
        (code(v).to_string(), 0, 0)
    }
}

/// Sends one operation through the bulk poster and writes it at once.
async fn through_bulk(poster: &mut Poster, ms: &[Member], n: usize, op: &Op) -> (String, i64, i64) {
    let result = match op {
        Op::Sale {
            member,
            product,
            amount,
            by_card,
            pay_card,
        } => {
            let m = &ms[*member];
            let (volume_ml, quantity) = line(*product, *amount);
            let sale = SaleIn {
                station_code: "S001".into(),
                pos_txn_id: format!("T{n}"),
                occurred_at: now_us(),
                who: Some(if *by_card {
                    Who::Card(m.card.clone())
                } else {
                    Who::Phone(m.phone.clone())
                }),
                plate: None,
                lines: vec![LineIn {
                    product_code: PRODUCTS[*product].into(),
                    volume_ml,
                    quantity,
                    unit_price_fen: unit_price(*product),
                    amount_fen: None,
                    pump_no: None,
                }],
                payments: vec![PayIn {
                    method: if *pay_card { "card" } else { "cash" }.into(),
                    amount_fen: None,
                    card_no: pay_card.then(|| m.card.clone()),
                }],
            };
            poster
                .sale(&sale)
                .await
                .map(|o| o.map(|o| (o.net_fen, o.points)).unwrap_or_default())
        }
        Op::Recharge { member, fen } => poster
            .recharge(
                "S001",
                &format!("T{n}"),
                now_us(),
                &ms[*member].card,
                *fen,
                "cash",
            )
            .await
            .map(|bonus| (bonus.unwrap_or(0), 0)),
    };
    poster.flush().await.expect("the batch is written");
    match result {
        Ok((amount, points)) => ("ok".into(), amount, points),
        Err(e) => (e.code.to_string(), 0, 0),
    }
}

/// What a member holds, read through the API.
async fn holdings(app: &App, m: &Member) -> Value {
    let (st, card) = app
        .get(&format!("/api/v1/cards/{}", m.card), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{card}");
    let (st, points) = app
        .get(&format!("/api/v1/customers/{}/points", m.id), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{points}");
    let (st, customer) = app
        .get(&format!("/api/v1/customers/{}", m.id), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{customer}");
    json!({
        "balance_fen": card["balance_fen"],
        "paid_fen": card["paid_fen"],
        "bonus_fen": card["bonus_fen"],
        "points": points["balance"],
        "tier": customer["tier"]["code"],
    })
}

async fn run(ops: Vec<Op>) {
    let pos = spawn_app().await;
    let bulk = spawn_app().await;
    let pos_members = members(&pos).await;
    let bulk_members = members(&bulk).await;
    let mut poster = Poster::live(&bulk.store).await.expect("poster");
    for (n, op) in ops.iter().enumerate() {
        let a = through_pos(&pos, &pos_members, n, op).await;
        let b = through_bulk(&mut poster, &bulk_members, n, op).await;
        assert_eq!(a, b, "operation {n} {op:?}: POS {a:?}, bulk {b:?}");
    }
    for (a, b) in pos_members.iter().zip(&bulk_members) {
        assert_eq!(
            holdings(&pos, a).await,
            holdings(&bulk, b).await,
            "member {} after {ops:?}",
            a.phone
        );
    }
    let (ra, rb) = (
        pos.store.check().await.unwrap(),
        bulk.store.check().await.unwrap(),
    );
    assert!(ra.is_clean() && rb.is_clean(), "{ra:?} {rb:?}");
    assert_eq!(ra.sales, rb.sales, "sales posted");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn the_pos_and_the_bulk_poster_decide_alike(ops in prop::collection::vec(op(), 1..24)) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}

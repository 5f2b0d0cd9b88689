//! Moving a network to another database: export, import into a fresh database of the
//! same backend, and compare.

use super::{card, fund};
use forecourt_core::limits::{CardRules, Rule};
use forecourt_store::network::{self, export_network, import_network, Manifest};
use forecourt_store::{testing, NewCard, NewCustomer, NewStation, Store, StoreError, Vault};
use std::path::{Path, PathBuf};

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir()
        .join("forecourt-tests")
        .join(format!("{what}-{}", forecourt_store::new_id()))
}

async fn fresh(vault: Vault) -> Store {
    let url = testing::fresh_db().await.expect("a fresh database");
    Store::open(&url, vault).await.expect("open and migrate")
}

/// A small network touching most tables: a region and a station with coordinates, a
/// customer with personal data, a vehicle and a contact, consent, a fleet main card with
/// a sub-card, a card replaced by a newer one (a row pointing to a later row), postings,
/// usage and audit entries.
async fn fill(store: &Store) -> (String, String) {
    let mut tx = store.begin().await.unwrap();
    let station = tx
        .create_station(&NewStation {
            code: "S001".into(),
            name: "北京朝阳站".into(),
            region_code: Some("R1".into()),
            lat: Some(39.904_211),
            lon: Some(116.407_395),
            province: Some("京".into()),
            address: Some("朝阳路 1 号".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let customer = tx
        .create_customer(&NewCustomer {
            member_code: "8000000101".into(),
            kind: "company".into(),
            name: "顺达物流有限公司".into(),
            phone: Some("13812345678".into()),
            id_number: Some("11010519491231002X".into()),
            address: Some("北京市朝阳区建国路 88 号".into()),
            home_station_id: Some(station.clone()),
            tags: vec!["fleet".into()],
            vehicles: vec![forecourt_store::NewVehicle {
                plate: "京A12345".into(),
                tank_capacity_ml: Some(60_000),
                ..Default::default()
            }],
            contacts: vec![forecourt_store::NewContact {
                name: "李娜".into(),
                phone: Some("13900001111".into()),
                role: Some("fleet manager".into()),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    tx.record_consent(&customer, "marketing", "counter", true, "user:test")
        .await
        .unwrap();
    let new_card = |no: &str, kind: &str, main: Option<String>| NewCard {
        card_no: no.into(),
        kind: kind.into(),
        customer_id: Some(customer.clone()),
        main_card_id: main,
        balance_mode: "pool".into(),
        cap_fen: None,
        rules: CardRules::default(),
        pin_hash: None,
        issued_station_id: Some(station.clone()),
    };
    let main = tx
        .create_card(&new_card("1000010000000001001", "fleet_main", None))
        .await
        .unwrap();
    let mut sub = new_card("1000010000000001002", "fleet_sub", Some(main.clone()));
    sub.rules = CardRules {
        plate: Some(Rule {
            value: "京A12345".into(),
            hard: true,
        }),
        ..Default::default()
    };
    tx.create_card(&sub).await.unwrap();
    let replacement = tx
        .create_card(&new_card("1000010000000001003", "fleet_main", None))
        .await
        .unwrap();
    tx.set_card_state(&main, "replaced", Some(&replacement))
        .await
        .unwrap();
    tx.move_sub_cards(&main, &replacement).await.unwrap();
    tx.add_usage(&replacement, 1_000, 1, 2_500, 3_000, "s1")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    fund(store, &replacement, 10_000, "r1").await;
    let personal = card(store, "1000010000000001004").await;
    fund(store, &personal, 5_000, "r2").await;
    for action in ["customer.read", "card.freeze", "customer.update"] {
        store
            .audit(&forecourt_store::audit::AuditEntry {
                actor: "user:test",
                action,
                target_kind: "customer",
                target_id: Some(&customer),
                source: Some("127.0.0.1"),
                detail: serde_json::json!({"reason": "测试"}),
            })
            .await
            .unwrap();
    }
    (customer, replacement)
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_network_table_list_covers_the_schema_in_foreign_key_order() {
    let store = fresh(Vault::for_tests()).await;
    network::check_table_list(&store).await.unwrap();
    let tables = network::schema_tables(&store).await.unwrap();
    assert_eq!(tables.len(), network::TABLES.len(), "{tables:?}");
    // Self references are the only foreign keys to a table that is not listed before.
    let self_refs: Vec<(String, String)> = network::foreign_keys(&store)
        .await
        .unwrap()
        .into_iter()
        .filter(|fk| fk.table == fk.references)
        .map(|fk| (fk.table, fk.column))
        .collect();
    assert_eq!(
        self_refs,
        [
            ("card".to_string(), "main_card_id".to_string()),
            ("card".to_string(), "replaced_by_card_id".to_string())
        ]
    );
}

#[tokio::test]
async fn a_table_missing_from_the_network_list_is_refused() {
    let url = testing::fresh_db().await.unwrap();
    let store = Store::open(&url, Vault::for_tests()).await.unwrap();
    super::sqlx_exec(
        &url,
        "create table loyalty_campaign (campaign_id text primary key)",
    )
    .await;
    let err = network::check_table_list(&store).await.unwrap_err();
    assert!(err.to_string().contains("loyalty_campaign"), "{err}");
    let dir = temp_dir("net-refused");
    assert!(export_network(&store, &dir, |_, _| {}).await.is_err());
    assert!(!dir.join("manifest.json").exists());
}

#[tokio::test]
async fn a_network_moves_to_a_fresh_database_intact() {
    let source = fresh(Vault::for_tests()).await;
    let (customer, card_id) = fill(&source).await;
    let dir = temp_dir("net-a");
    let manifest = export_network(&source, &dir, |_, _| {}).await.unwrap();
    assert_eq!(
        manifest.schema_version,
        source.schema_version().await.unwrap()
    );
    assert_eq!(
        manifest
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        network::TABLES
    );
    for (table, rows) in [
        ("station", 1),
        ("customer", 2),
        ("vehicle", 1),
        ("contact", 1),
        ("card", 4),
        ("consent", 1),
        ("audit_log", 3),
        ("audit_head", 1),
    ] {
        assert_eq!(manifest.rows(table), Some(rows), "{table}");
    }
    let stations = std::fs::read_to_string(dir.join("station.jsonl")).unwrap();
    assert!(
        stations.contains("39.904211,116.407395") && stations.contains("\"北京朝阳站\""),
        "floats as numbers, text as strings: {stations}"
    );

    let target = fresh(Vault::for_tests()).await;
    let mut seen = Vec::new();
    let report = import_network(&target, &dir, |table, done, total| {
        assert!(done <= total);
        seen.push(table.to_string());
    })
    .await
    .unwrap();
    assert!(seen.contains(&"audit_log".to_string()));
    for (table, rows) in &report.tables {
        assert_eq!(manifest.rows(table), Some(*rows), "{table}");
    }

    // Exported again, the target gives the same files byte for byte.
    let again = temp_dir("net-b");
    let manifest2 = export_network(&target, &again, |_, _| {}).await.unwrap();
    assert_eq!(files(&dir), files(&again));
    for (a, b) in manifest.tables.iter().zip(&manifest2.tables) {
        assert_eq!((&a.name, a.rows, &a.sha256), (&b.name, b.rows, &b.sha256));
    }

    let check = target.check().await.unwrap();
    assert!(check.is_clean(), "{:?}", check.problems);
    assert_eq!(check.journals, source.check().await.unwrap().journals);
    let audit = target.verify_audit().await.unwrap();
    assert_eq!((audit.rows, audit.broken_at), (3, None));
    // New entries go on from the moved chain.
    target
        .audit(&forecourt_store::audit::AuditEntry {
            actor: "system",
            action: "network.import",
            target_kind: "network",
            target_id: None,
            source: None,
            detail: serde_json::json!({}),
        })
        .await
        .unwrap();
    assert_eq!(target.verify_audit().await.unwrap().broken_at, None);

    // Personal data opens through the target with the same key, and lookups work.
    let a = source.customer(&customer).await.unwrap().unwrap();
    let b = target.customer(&customer).await.unwrap().unwrap();
    assert_eq!(b.name, "顺达物流有限公司");
    assert_eq!(
        (&b.name, &b.phone, &b.id_number, &b.address),
        (&a.name, &a.phone, &a.id_number, &a.address)
    );
    assert_eq!(
        target.vehicles(&customer).await.unwrap()[0].plate,
        "京A12345"
    );
    assert_eq!(target.contacts(&customer).await.unwrap()[0].name, "李娜");
    assert_eq!(
        target.customer_ids_by_phone("13812345678").await.unwrap(),
        vec![customer.clone()]
    );
    let sub = target.sub_cards(&card_id).await.unwrap();
    assert_eq!(sub.len(), 1, "the sub-card follows its main card");
    assert_eq!(sub[0].rules.plate.as_ref().unwrap().value, "京A12345");
    let old = target
        .card_by_no("1000010000000001001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.replaced_by_card_id.as_deref(), Some(card_id.as_str()));
    assert_eq!(
        target.card_balance(&card_id).await.unwrap().paid_fen,
        10_000
    );

    // A second import into the now filled target is refused and changes nothing.
    let err = import_network(&target, &dir, |_, _, _| {})
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("not empty")
            && message.contains("station")
            && message.contains("customer"),
        "{message}"
    );
    assert_eq!(target.check().await.unwrap().journals, check.journals);
}

#[tokio::test]
async fn an_import_needs_the_source_key_and_an_intact_export() {
    let source = fresh(Vault::for_tests()).await;
    fill(&source).await;
    let dir = temp_dir("net-c");
    export_network(&source, &dir, |_, _| {}).await.unwrap();
    assert!(
        matches!(
            export_network(&source, &dir, |_, _| {}).await,
            Err(StoreError::Config(_))
        ),
        "an export never writes into a directory that is not empty"
    );

    let other_key = Vault::from_key_material(&Vault::generate_key_material()).unwrap();
    let target = fresh(other_key).await;
    let err = import_network(&target, &dir, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("data key"), "{err}");
    assert_eq!(target.stations().await.unwrap().len(), 0);

    // One changed byte in one file and nothing is imported.
    let target = fresh(Vault::for_tests()).await;
    let path = dir.join("customer.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("8000000101", "8000000102", 1)).unwrap();
    let err = import_network(&target, &dir, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert_eq!(target.stations().await.unwrap().len(), 0);
    assert_eq!(
        Manifest::read(&dir).unwrap().rows("customer"),
        Some(2),
        "the manifest itself is untouched"
    );
}

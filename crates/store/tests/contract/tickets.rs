//! The service desk's tables: the seeded default calendar and policies, calendars by
//! code and per station, tickets with sealed text, and the guards of concurrent steps.

use forecourt_core::sla::{Severity, SlaPolicy};
use forecourt_store::tickets::{
    NewCalendar, NewTicket, NewTicketEvent, TicketFilter, DEFAULT_CALENDAR,
};
use forecourt_store::{NewStation, Store, StoreError};

async fn station(store: &Store, code: &str) -> String {
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .create_station(&NewStation {
            code: code.into(),
            name: code.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

fn event<'a>(action: &'a str, from: &'a str, to: &'a str, at: i64) -> NewTicketEvent<'a> {
    NewTicketEvent {
        action,
        author: "user:admin",
        from_state: from,
        to_state: to,
        note: None,
        assignee_id: None,
        csat: None,
        at,
        first_response_at: None,
        resolved_at: None,
        closed_at: None,
        ticket_assignee_id: None,
    }
}

#[tokio::test]
async fn the_default_calendar_and_policies_are_seeded_once() {
    let store = crate::store().await;
    store.migrate().await.unwrap();
    let cal = store
        .calendar_by_code(DEFAULT_CALENDAR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cal.time_zone, "Asia/Shanghai");
    assert!(cal.holidays.contains("\"2026-10-01\""), "{}", cal.holidays);
    assert!(cal.workdays.contains("\"2026-10-10\""), "{}", cal.workdays);
    let policies = store.sla_policies().await.unwrap();
    assert_eq!(policies.len(), 4);
    let normal = policies.iter().find(|p| p.severity == "normal").unwrap();
    let want = SlaPolicy::default_for(Severity::Normal);
    assert_eq!(
        (normal.first_response_minutes, normal.resolution_minutes),
        (
            i64::from(want.first_response_minutes()),
            i64::from(want.resolution_minutes())
        )
    );
}

#[tokio::test]
async fn calendars_are_replaced_by_code_and_stations_fall_back_to_the_default() {
    let store = crate::store().await;
    let s1 = station(&store, "S1").await;
    assert_eq!(
        store.station_calendar(&s1).await.unwrap().code,
        DEFAULT_CALENDAR
    );
    let mut tx = store.begin().await.unwrap();
    let cal = |hours: &'static str| NewCalendar {
        code: "office",
        time_zone: "Asia/Shanghai",
        hours,
        holidays: "[]",
        workdays: "[]",
        workday_hours: None,
    };
    let (id, created) = tx.put_calendar(&cal("\"24h\"")).await.unwrap();
    assert!(created);
    let (again, created) = tx.put_calendar(&cal("{}")).await.unwrap();
    assert_eq!((again.as_str(), created), (id.as_str(), false));
    tx.set_station_calendar(&s1, &id).await.unwrap();
    tx.set_station_calendar(&s1, &id).await.unwrap();
    tx.commit().await.unwrap();
    let got = store.station_calendar(&s1).await.unwrap();
    assert_eq!((got.code.as_str(), got.hours.as_str()), ("office", "{}"));
}

#[tokio::test]
async fn tickets_seal_their_text_and_take_one_step_at_a_time() {
    let store = crate::store().await;
    let s1 = station(&store, "S1").await;
    let s2 = station(&store, "S2").await;
    let mut tx = store.begin().await.unwrap();
    let new = |station_id| NewTicket {
        kind: "complaint",
        channel: "phone",
        station_id,
        category: "metering",
        severity: "normal",
        first_response_minutes: 240,
        resolution_minutes: 1440,
        customer_id: None,
        description: "张伟 13800000001 反映加油量不足",
        state: "accepted",
        opened_at: 1_000,
        opened_by: "user:admin",
    };
    let t1 = tx.create_ticket(&new(&s1)).await.unwrap();
    let t2 = tx.create_ticket(&new(&s2)).await.unwrap();
    tx.append_ticket_event(&t1, 0, &event("open", "", "accepted", 1_000))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let t = tx.lock_ticket(&t1).await.unwrap().unwrap();
    assert_eq!(t.event_count, 1);
    let mut step = event("respond", "accepted", "accepted", 2_000);
    step.note = Some("已致电 13800000001");
    step.first_response_at = Some(2_000);
    assert_eq!(tx.append_ticket_event(&t1, 1, &step).await.unwrap(), 2);
    // A step decided on what was there before is refused: the caller decides again.
    match tx.append_ticket_event(&t1, 1, &step).await {
        Err(StoreError::Retry) => {}
        other => panic!("expected Retry, got {other:?}"),
    }
    tx.commit().await.unwrap();
    assert!(tx_missing(&store).await);

    let t = store.ticket(&t1).await.unwrap().unwrap();
    assert_eq!(t.description, "张伟 13800000001 反映加油量不足");
    assert_eq!(
        (t.state.as_str(), t.first_response_at, t.event_count),
        ("accepted", Some(2_000), 2)
    );
    assert_eq!(t.station_code, "S1");
    let events = store.ticket_events(&t1).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].note.as_deref(), Some("已致电 13800000001"));
    let dump = store.dump_for_comparison().await.unwrap();
    assert!(!dump.contains("13800000001"), "ticket text is sealed");

    // Lists by station, state and openness.
    let only_s2 = vec![s2.clone()];
    let rows = store
        .tickets(&TicketFilter {
            station_ids: Some(&only_s2),
            state: None,
            open_only: true,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r.ticket_id.as_str())
            .collect::<Vec<_>>(),
        vec![t2.as_str()]
    );
    let rows = store
        .tickets(&TicketFilter {
            station_ids: None,
            state: Some("closed"),
            open_only: false,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(rows.is_empty());

    // The escalation level only rises.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.raise_escalation_level(&t1, 1).await.unwrap());
    assert!(!tx.raise_escalation_level(&t1, 1).await.unwrap());
    assert!(tx.raise_escalation_level(&t1, 3).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        store.ticket(&t1).await.unwrap().unwrap().escalation_level,
        3
    );
}

/// A ticket that does not exist cannot be locked.
async fn tx_missing(store: &Store) -> bool {
    let mut tx = store.begin().await.unwrap();
    tx.lock_ticket("nope").await.unwrap().is_none()
}

use pod_events::store::{CommandBus, Outcome};
use pod_events::{AggregateId, EventMeta};

use crate::support::*;

#[tokio::test]
async fn the_same_command_id_twice_yields_one_event() {
    let nats = TestNats::new().await;
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    let meta = EventMeta::with_command_id("idem-1");
    let bus = CommandBus::new(nats.store().await, ());
    let first = bus.execute(&id, observe(10.0), &meta).await.unwrap();
    assert!(matches!(first, Outcome::Committed { version: 1, .. }), "{first:?}");
    assert_eq!(bus.execute(&id, observe(10.0), &meta).await.unwrap(), Outcome::Duplicate);
    // A different process (no cache) recognises it too.
    let other = CommandBus::new(nats.store().await, ());
    assert_eq!(other.execute(&id, observe(10.0), &meta).await.unwrap(), Outcome::Duplicate);
    assert_eq!(nats.stream_messages().await, 1);
}

#[tokio::test]
async fn a_resent_commit_stores_nothing_and_the_retry_is_recognised() {
    // A writer whose ack was lost resends exactly what it sent: same context,
    // same command id. The stream refuses it (stale sequence, or duplicate
    // id); the command bus's retry then finds the command already applied.
    let nats = TestNats::new().await;
    let store = nats.store().await;
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    let mut stored = 0;
    for n in [1usize, 3] {
        let cmd = pod_events::domain::trend::TrendCommand::ObserveMany {
            keyword: "cat mom".into(),
            niche: "pets".into(),
            product_types: vec![],
            observations: (0..n).map(|i| observation(i as f64)).collect(),
        };
        let ctx = store.load(&id).await.unwrap();
        let mut work = ctx.clone();
        let sink = cqrs_es::event_sink::EventSink::default();
        cqrs_es::Aggregate::handle(&mut work.aggregate, cmd.clone(), &(), &sink).await.unwrap();
        let events = sink.collect().await;
        let meta = EventMeta::with_command_id(format!("resent-{n}"));
        let (first, _) = store.append(&events, work.clone(), &meta).await.unwrap();
        assert!(!first.duplicate);
        stored += n as u64;
        match store.append(&events, work, &meta).await {
            Ok((again, _)) => assert!(again.duplicate, "resend of a {n}-event command was stored again"),
            Err(e) => assert_eq!(e.kind(), pod_events::store::StoreErrorKind::Conflict, "{e}"),
        }
        assert_eq!(nats.stream_messages().await, stored);
        let bus = CommandBus::new(nats.store().await, ());
        assert_eq!(bus.execute(&id, cmd, &meta).await.unwrap(), Outcome::Duplicate);
        assert_eq!(nats.stream_messages().await, stored);
    }
}

use std::collections::HashMap;
use std::sync::Arc;

use pod_events::domain::trend::TrendCommand;
use pod_events::store::{CommandBus, CommandError, Outcome};
use pod_events::{AggregateId, EventMeta};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_lose_nothing_and_duplicate_nothing() {
    let nats = TestNats::new().await;
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    const WRITERS: usize = 8;
    const COMMANDS: usize = 200;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        // Each writer has its own store (its own cache), as separate processes would.
        let bus = Arc::new(CommandBus::new(nats.store().await, ()).with_max_attempts(1000));
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for c in 0..COMMANDS {
                let meta = EventMeta::with_command_id(format!("w{w}-c{c}"));
                match bus.execute(&id, observe((c % 100) as f64), &meta).await {
                    Ok(Outcome::Committed { events: 1, .. }) => accepted.push(meta.command_id),
                    Ok(other) => panic!("unexpected outcome {other:?}"),
                    Err(CommandError::Conflict { .. }) => {}
                    Err(e) => panic!("command failed: {e}"),
                }
            }
            accepted
        }));
    }
    let mut accepted = Vec::new();
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    let history = nats.store().await.history(&id).await.unwrap();
    assert_eq!(history.len(), accepted.len(), "every accepted command stored, nothing else");
    assert!(accepted.len() >= WRITERS * COMMANDS * 9 / 10, "most commands get through: {}", accepted.len());
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e.aggregate_seq, i as u64 + 1, "aggregate sequences are gap-free");
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in &history {
        *seen.entry(e.command_id.as_str()).or_default() += 1;
    }
    for c in &accepted {
        assert_eq!(seen.get(c.as_str()), Some(&1), "command {c} stored exactly once");
    }
    // A fresh store (no cache, via snapshot + tail) agrees on the state.
    let ctx = nats.store().await.load(&id).await.unwrap();
    assert_eq!(ctx.version, history.len() as u64);
    assert_eq!(ctx.aggregate.observations, history.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_event_commands_are_stored_whole_or_not_at_all() {
    let nats = TestNats::new().await;
    let store = nats.store().await;
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    let many = |n: usize| TrendCommand::ObserveMany {
        keyword: "cat mom".into(),
        niche: "pets".into(),
        product_types: vec![],
        observations: (0..n).map(|i| observation(i as f64)).collect(),
    };

    // A stale batch is refused whole.
    let bus = CommandBus::new(store.clone(), ());
    bus.execute(&id, observe(1.0), &EventMeta::new_command()).await.unwrap();
    let stale = store.load(&id).await.unwrap();
    bus.execute(&id, observe(2.0), &EventMeta::new_command()).await.unwrap();
    let mut ctx = stale;
    let sink = cqrs_es::event_sink::EventSink::default();
    cqrs_es::Aggregate::handle(&mut ctx.aggregate, many(5), &(), &sink).await.unwrap();
    let events = sink.collect().await;
    assert_eq!(events.len(), 5);
    let err = store.append(&events, ctx, &EventMeta::new_command()).await.unwrap_err();
    assert_eq!(err.kind(), pod_events::store::StoreErrorKind::Conflict, "got {err}");
    assert_eq!(nats.stream_messages().await, 2, "nothing of the refused batch was stored");

    // Racing batches: each command's events land together, in order.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let bus = CommandBus::new(nats.store().await, ()).with_max_attempts(1000);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            for c in 0..10 {
                let meta = EventMeta::with_command_id(format!("batch-{w}-{c}"));
                bus.execute(&id, many(7), &meta).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let history = store.history(&id).await.unwrap();
    assert_eq!(history.len(), 2 + 4 * 10 * 7);
    for chunk in history[2..].chunks(7) {
        let cmd = &chunk[0].command_id;
        assert!(chunk.iter().all(|e| &e.command_id == cmd), "a batch was interleaved: {chunk:?}");
        let seqs: Vec<u64> = chunk.iter().map(|e| e.stream_seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "batch not contiguous: {seqs:?}");
    }
}

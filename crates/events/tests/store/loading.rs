use async_nats::HeaderMap;
use pod_events::domain::StateVersion;
use pod_events::domain::text::RejectReason;
use pod_events::domain::trend::{Trend, TrendEvent};
use pod_events::store::{CommandBus, JetStreamStore};
use pod_events::{AggregateId, EventMeta};

use crate::support::*;

#[tokio::test]
async fn a_stored_v1_event_loads_as_the_current_version() {
    let nats = TestNats::new().await;
    let id = AggregateId::derived(tenant(), "trend", "retro gamer");
    // Write a v1 event as an old release would have.
    let mut headers = HeaderMap::new();
    headers.insert("Pod-Event-Type", "TrendObserved");
    headers.insert("Pod-Event-Version", "1");
    headers.insert("Pod-Aggregate-Seq", "1");
    headers.insert("Pod-Command-Id", "legacy-1");
    let body = serde_json::json!({"keyword": "Retro  Gamer", "source": "legacy-csv", "score": 55.0, "observed_at": "2024-03-01T00:00:00Z"});
    let js = async_nats::jetstream::new(nats.client.clone());
    js.publish_with_headers(
        nats.ns.aggregate_subject("trend", &id),
        headers,
        serde_json::to_vec(&body).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let store = nats.store().await;
    let history = store.history(&id).await.unwrap();
    assert_eq!(history[0].event_version, 1, "the log keeps what was written");
    let TrendEvent::TrendObserved(e) = history[0].to_domain::<TrendEvent>().unwrap() else { panic!() };
    assert_eq!(e.normalized, "retro gamer");
    assert_eq!(e.observation.source, "legacy-csv");
    assert!(e.observation.estimated);

    // The aggregate folds it and takes new (v2) events on top.
    let ctx = store.load(&id).await.unwrap();
    assert_eq!(ctx.aggregate.normalized.as_deref(), Some("retro gamer"));
    let bus = CommandBus::new(store, ());
    let cmd = pod_events::domain::trend::TrendCommand::Observe {
        keyword: "retro gamer".into(),
        niche: "hobbies".into(),
        product_types: vec![],
        observation: observation(60.0),
    };
    bus.execute(&id, cmd, &EventMeta::new_command()).await.unwrap();
    let history = bus.store().history(&id).await.unwrap();
    assert_eq!(history.iter().map(|e| e.event_version).collect::<Vec<_>>(), vec![1, 2]);
}

#[tokio::test]
async fn long_aggregates_load_from_snapshot_and_tail() {
    let nats = TestNats::new().await;
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    let bus = CommandBus::new(nats.store_with(50).await, ());
    for i in 0..130 {
        bus.execute(&id, observe((i % 100) as f64), &EventMeta::new_command()).await.unwrap();
    }
    // The snapshot bucket holds the state at version 100.
    let js = async_nats::jetstream::new(nats.client.clone());
    let kv = js.get_key_value(nats.ns.snapshot_bucket()).await.unwrap();
    let key = format!("trend.{}.{}.v{}", id.tenant, id.id, Trend::STATE_VERSION);
    let snap = kv.get(key).await.unwrap().expect("a snapshot");
    let snap: serde_json::Value = serde_json::from_slice(&snap).unwrap();
    assert_eq!(snap["context"]["version"], 100);
    assert_eq!(snap["state_version"], Trend::STATE_VERSION);

    // A new process loads snapshot + 30 events and agrees with a full replay.
    let fresh: JetStreamStore<Trend> = nats.store_with(50).await;
    let ctx = fresh.load(&id).await.unwrap();
    assert_eq!(ctx.version, 130);
    assert_eq!(ctx.aggregate.observations, 130);
    let mut replayed = Trend::default();
    for e in fresh.history(&id).await.unwrap() {
        cqrs_es::Aggregate::apply(&mut replayed, e.to_domain().unwrap());
    }
    assert_eq!(replayed, ctx.aggregate);
}

#[tokio::test]
async fn a_snapshot_of_another_state_version_is_replayed_over_and_rewritten() {
    let nats = TestNats::new().await;
    let id = AggregateId::derived(tenant(), "trend", "nurse life");
    let bus = CommandBus::new(nats.store_with(50).await, ());
    for i in 0..60 {
        bus.execute(&id, observe(i as f64), &EventMeta::new_command()).await.unwrap();
    }
    // Forge what an older program would have left: another state version,
    // whose fields (read with today's defaults) disagree with the log.
    let js = async_nats::jetstream::new(nats.client.clone());
    let kv = js.get_key_value(nats.ns.snapshot_bucket()).await.unwrap();
    let key = format!("trend.{}.{}.v{}", id.tenant, id.id, Trend::STATE_VERSION);
    let mut snap: serde_json::Value = serde_json::from_slice(&kv.get(&key).await.unwrap().unwrap()).unwrap();
    snap["state_version"] = serde_json::json!(Trend::STATE_VERSION + 1);
    snap["context"]["aggregate"]["observations"] = serde_json::json!(999);
    kv.put(&key, serde_json::to_vec(&snap).unwrap().into()).await.unwrap();

    let fresh: JetStreamStore<Trend> = nats.store_with(50).await;
    let ctx = fresh.load(&id).await.unwrap();
    assert_eq!(ctx.aggregate.observations, 60, "the state comes from the log, not the foreign snapshot");
    let rewritten: serde_json::Value = serde_json::from_slice(&kv.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(rewritten["state_version"], Trend::STATE_VERSION);
    assert_eq!(rewritten["context"]["version"], 60);
    assert_eq!(rewritten["context"]["aggregate"]["observations"], 60);
}

#[tokio::test]
async fn cqrs_es_framework_runs_on_the_store() {
    let nats = TestNats::new().await;
    let store = nats.store().await;
    let cqrs = cqrs_es::CqrsFramework::new(store.clone(), vec![], ());
    let id = AggregateId::derived(tenant(), "trend", "dog dad");
    let cmd = pod_events::domain::trend::TrendCommand::Observe {
        keyword: "Dog Dad".into(),
        niche: "pets".into(),
        product_types: vec![],
        observation: observation(20.0),
    };
    cqrs.execute_with_metadata(&id.to_string(), cmd, EventMeta::new_command().into_map()).await.unwrap();
    let events = cqrs_es::EventStore::<Trend>::load_events(&store, &id.to_string()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].sequence, 1);
    let err = cqrs
        .execute(
            &id.to_string(),
            pod_events::domain::trend::TrendCommand::Retire { reason: RejectReason::parse("x").unwrap() },
        )
        .await;
    assert!(err.is_ok());
    let err = cqrs
        .execute(
            &id.to_string(),
            pod_events::domain::trend::TrendCommand::Retire { reason: RejectReason::parse("again").unwrap() },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, cqrs_es::AggregateError::UserError(_)), "{err}");
}

/// Process A cached an idea before it was screened; process B screened it.
/// A's approval, refused on A's stale copy, is re-decided on the stream's
/// state and accepted.
#[tokio::test]
async fn a_refusal_on_stale_cached_state_is_rechecked() {
    use pod_events::domain::Actor;
    use pod_events::domain::idea::{Idea, IdeaCommand, IdeaGenerated, IdeaScreened, Verdict};
    let nats = TestNats::new().await;
    let id = AggregateId::generate(tenant());
    let a = CommandBus::new(nats.store_of::<Idea>().await, ());
    let b = CommandBus::new(nats.store_of::<Idea>().await, ());
    let generated = IdeaGenerated {
        trend_id: uuid::Uuid::nil(),
        phrase: "Plant Dad Era".into(),
        niche: "hobbies".into(),
        product_type: "t-shirt".into(),
        style: "retro".into(),
        audience: "plant owners".into(),
        tags: vec![],
        provider: "offline".into(),
        model: None,
        cost_micros: 0,
    };
    a.execute(&id, IdeaCommand::Generate(generated.try_into().unwrap()), &EventMeta::new_command()).await.unwrap();
    let screened = IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "t".into() };
    b.execute(&id, IdeaCommand::RecordScreening(screened), &EventMeta::new_command()).await.unwrap();
    let approve = IdeaCommand::Approve { by: Actor::Policy { name: "auto-green".into() } };
    let outcome = a.execute(&id, approve, &EventMeta::new_command()).await.unwrap();
    assert!(matches!(outcome, pod_events::store::Outcome::Committed { version: 3, .. }), "{outcome:?}");
}

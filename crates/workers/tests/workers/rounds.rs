//! More ideas, asked for: a round of ideas from a trend whatever its score,
//! and a replacement that rejects the idea it replaces once it exists —
//! each made once however often its event is delivered.

use std::sync::Arc;

use pod_events::domain::Actor;
use pod_events::domain::idea::{Idea, IdeaStatus};
use pod_events::domain::trend::{Trend, TrendCommand};
use pod_events::store::CommandBus;
use pod_events::store::reader::{LogReader, Start};
use pod_events::{AggregateId, EventMeta, RecordedEvent};
use pod_workers::ideation::offline::OfflineIdeas;
use pod_workers::ideation::{Ideation, IdeationSettings};
use pod_workers::pipeline::Pipeline;
use pod_workers::runtime::Handler;

use crate::support::*;

async fn events(env: &TestNats) -> Vec<RecordedEvent> {
    let mut all = LogReader::open(env.client.clone(), &env.ns, vec![env.ns.all_events()], Start::All).await.unwrap();
    all.next_batch(200).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asked_for_ideas_come_once_per_round_and_a_replacement_rejects_the_replaced() {
    let env = TestNats::new().await;
    let trends = CommandBus::new(env.store_of::<Trend>().await, ());
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    trends.execute(&id, observe(90.0), &EventMeta::new_command()).await.unwrap();
    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let ideation = Ideation::new(pipeline, Arc::new(OfflineIdeas), IdeationSettings::default());
    let observed = events(&env).await.remove(0);
    ideation.handle(&observed).await.unwrap();

    // Replace the first idea: one new idea, then the first one steps aside.
    let first = Ideation::idea_id(&id, 0);
    let person = Actor::User { user_id: uuid::Uuid::from_u128(1) };
    let replace = TrendCommand::RequestIdeas { count: 1, replacing: Some(first.id), by: person.clone() };
    trends.execute(&id, replace, &EventMeta::new_command()).await.unwrap();
    // And a round of two more.
    let more = TrendCommand::RequestIdeas { count: 2, replacing: None, by: person.clone() };
    trends.execute(&id, more, &EventMeta::new_command()).await.unwrap();
    let asked: Vec<RecordedEvent> =
        events(&env).await.into_iter().filter(|e| e.event_type == "TrendIdeasRequested").collect();
    assert_eq!(asked.len(), 2);
    for e in &asked {
        ideation.handle(e).await.unwrap();
        // A redelivery changes nothing.
        ideation.handle(e).await.unwrap();
    }

    let log = events(&env).await;
    let count = |t: &str| log.iter().filter(|e| e.event_type == t).count();
    assert_eq!(count("IdeaGenerated"), 3 + 1 + 2, "{:?}", log.iter().map(|e| &e.event_type).collect::<Vec<_>>());
    assert_eq!(count("TrendIdeated"), 3, "round 0, 1 and 2, each once");
    assert_eq!(count("IdeaRejected"), 1);
    let ideas = env.store_of::<Idea>().await;
    let replaced = ideas.load_fresh(&first).await.unwrap().aggregate;
    assert_eq!(replaced.status, IdeaStatus::Rejected);
    let replacement = ideas.load_fresh(&Ideation::round_idea_id(&id, 1, 0)).await.unwrap().aggregate;
    let mut first_round = Vec::new();
    for n in 0..3 {
        let idea = ideas.load_fresh(&Ideation::idea_id(&id, n)).await.unwrap().aggregate;
        first_round.push(idea.content.unwrap().phrase);
    }
    let new = replacement.content.expect("the replacement exists").phrase;
    assert!(!first_round.contains(&new), "a new phrase, not one of the first round: {new} in {first_round:?}");
    let trend = env.store_of::<Trend>().await.load_fresh(&id).await.unwrap().aggregate;
    assert_eq!((trend.idea_rounds, trend.rounds_ideated.clone()), (2, vec![1, 2]));
    // The rejection is the person's, with its reason.
    let rejected = log.iter().find(|e| e.event_type == "IdeaRejected").unwrap();
    assert_eq!(rejected.payload["reason"], "replaced by a new idea");
    assert_eq!(rejected.payload["by"]["user_id"], person_id());
}

fn person_id() -> serde_json::Value {
    serde_json::json!(uuid::Uuid::from_u128(1).to_string())
}

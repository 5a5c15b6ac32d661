//! The same event handled twice at once — a redelivery while the first
//! delivery is still at work, or two replicas — makes its effects once.

use std::sync::Arc;

use pod_events::domain::trend::Trend;
use pod_events::store::CommandBus;
use pod_events::store::reader::{LogReader, Start};
use pod_events::{AggregateId, EventMeta};
use pod_workers::ideation::offline::OfflineIdeas;
use pod_workers::ideation::{Ideation, IdeationSettings};
use pod_workers::pipeline::Pipeline;
use pod_workers::runtime::Handler;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_handled_twice_at_once_makes_its_ideas_once() {
    let env = TestNats::new().await;
    let trends = CommandBus::new(env.store_of::<Trend>().await, ());
    let id = AggregateId::derived(tenant(), "trend", "cat mom");
    trends.execute(&id, observe(90.0), &EventMeta::new_command()).await.unwrap();
    let mut reader = LogReader::open(env.client.clone(), &env.ns, vec![env.ns.all_events()], Start::All).await.unwrap();
    let observed = reader.next_batch(10).await.unwrap().remove(0);
    assert_eq!(observed.event_type, "TrendObserved");

    // Two handlers with their own caches, as two processes would have.
    let handler = || async {
        let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
        Ideation::new(pipeline, Arc::new(OfflineIdeas), IdeationSettings::default())
    };
    let (a, b) = (handler().await, handler().await);
    let (ra, rb) = tokio::join!(a.handle(&observed), b.handle(&observed));
    ra.unwrap();
    rb.unwrap();
    // And once more, later: a redelivery after both finished.
    a.handle(&observed).await.unwrap();

    let mut all = LogReader::open(env.client.clone(), &env.ns, vec![env.ns.all_events()], Start::All).await.unwrap();
    let events = all.next_batch(100).await.unwrap();
    let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
    assert_eq!(count("IdeaGenerated"), 3, "{:?}", events.iter().map(|e| &e.event_type).collect::<Vec<_>>());
    assert_eq!(count("TrendIdeated"), 1);
    let trend = env.store_of::<Trend>().await.load_fresh(&id).await.unwrap().aggregate;
    assert!(trend.ideated);
}

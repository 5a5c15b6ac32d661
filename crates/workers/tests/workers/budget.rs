//! Paid calls are charged to the tenant's monthly budget; once it is spent
//! an event says so and paid calls pause (the trend waits in the dead
//! letters, visible, instead of being ideated at a loss).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pod_events::domain::budget::Budget;
use pod_events::domain::trend::{Trend, TrendCommand};
use pod_events::store::{CommandBus, dead_letters};
use pod_events::{AggregateId, EventMeta};
use pod_workers::ideation::offline::OfflineIdeas;
use pod_workers::ideation::{IdeaProvider, IdeaRequest, Ideas, Ideation, IdeationSettings, ProviderError};
use pod_workers::pipeline::Pipeline;
use pod_workers::runtime::{Worker, WorkerOptions};

use crate::support::*;

/// The offline engine, billed like a paid model: $0.60 a call.
struct Paid(AtomicU32);

#[async_trait::async_trait]
impl IdeaProvider for Paid {
    fn name(&self) -> &'static str {
        "openai"
    }
    fn paid(&self) -> bool {
        true
    }
    async fn ideas(&self, req: &IdeaRequest) -> Result<Ideas, ProviderError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Ideas { drafts: OfflineIdeas::generate(req), model: Some("test-model".into()), cost_micros: 600_000 })
    }
}

#[tokio::test]
async fn an_exhausted_budget_pauses_paid_calls_with_an_event_that_says_so() {
    let env = TestNats::new().await;
    let trends = CommandBus::new(env.store_of::<Trend>().await, ());
    for kw in ["cat mom", "dog dad", "nurse life"] {
        let id = AggregateId::derived(tenant(), "trend", kw);
        let cmd = TrendCommand::Observe {
            keyword: kw.into(),
            niche: "pets".into(),
            product_types: vec!["t-shirt".into()],
            observation: observation(90.0),
        };
        trends.execute(&id, cmd, &EventMeta::new_command()).await.unwrap();
    }
    let provider = Arc::new(Paid(AtomicU32::new(0)));
    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let handler = Ideation::new(pipeline.clone(), provider.clone(), IdeationSettings::default()).with_budget(1_000_000);
    let opts = WorkerOptions { concurrency: 1, max_deliveries: 1, ..Default::default() };
    let worker = Worker::new(env.client.clone(), env.ns.clone(), Arc::new(handler), opts);
    let stats = worker.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.handled.load(Ordering::SeqCst) + stats.dead_lettered.load(Ordering::SeqCst) < 3
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tx.send(());
    task.await.unwrap().unwrap();

    assert_eq!(provider.0.load(Ordering::SeqCst), 2, "the third paid call was never made");
    assert_eq!(stats.handled.load(Ordering::SeqCst), 2);
    let letters = dead_letters::list(&env.client, &env.ns, Some("ideation")).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].error.contains("paid calls paused"), "{}", letters[0].error);
    assert!(letters[0].error.contains("$1.20 of its $1.00"), "{}", letters[0].error);

    let budget_id = pod_workers::budget::budget_id(&tenant(), chrono::Utc::now());
    let history = env.store_of::<Budget>().await.history(&budget_id).await.unwrap();
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["CostRecorded", "CostRecorded", "BudgetExhausted"]);
    assert_eq!(history[2].payload["total_micros"], 1_200_000);
    let _ = pipeline;
}

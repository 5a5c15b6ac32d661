use std::path::PathBuf;

use chrono::{DateTime, Utc};
use pod_events::domain::trend::{Observation, Trend, TrendCommand};
use pod_events::store::{JetStreamStore, StoreConfig, definitions};
use pod_events::{Namespace, TenantId};

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:14222".into())
}

pub fn nats_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../nats")
}

/// A namespace of its own on the shared NATS server, deleted on drop.
pub struct TestNats {
    pub client: async_nats::Client,
    pub ns: Namespace,
}

impl TestNats {
    pub async fn new() -> Self {
        let url = nats_url();
        let client = pod_events::store::connect(&url, "pod-test").await.unwrap_or_else(|e| {
            panic!("these tests need NATS ≥ 2.12 with JetStream at {url}: {e}. Start it with `scripts/services.sh` (or set NATS_URL).")
        });
        let ns = Namespace::new(format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).unwrap();
        definitions::apply(&client, &ns, &nats_dir()).await.expect("applying nats/ definitions");
        Self { client, ns }
    }

    pub async fn store(&self) -> JetStreamStore<Trend> {
        self.store_with(100).await
    }

    pub async fn store_with(&self, snapshot_every: u64) -> JetStreamStore<Trend> {
        let config = StoreConfig { namespace: self.ns.clone(), snapshot_every, cache_capacity: 1000 };
        JetStreamStore::open(self.client.clone(), config).await.expect("opening store")
    }

    /// A store of any aggregate type, as a separate process would have.
    pub async fn store_of<A>(&self) -> JetStreamStore<A>
    where
        A: cqrs_es::Aggregate + pod_events::domain::StateVersion + Clone,
        A::Event: pod_events::EventCodec,
    {
        let config = StoreConfig { namespace: self.ns.clone(), snapshot_every: 100, cache_capacity: 1000 };
        JetStreamStore::open(self.client.clone(), config).await.expect("opening store")
    }

    pub async fn stream_messages(&self) -> u64 {
        let js = async_nats::jetstream::new(self.client.clone());
        let mut s = js.get_stream(self.ns.events_stream()).await.unwrap();
        s.info().await.unwrap().state.messages
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        let ns = self.ns.clone();
        let url = nats_url();
        // Drop cannot await; clean up on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(c) = async_nats::connect(&url).await {
                    let _ = definitions::delete_all(&c, &ns, &nats_dir()).await;
                }
            });
        })
        .join();
    }
}

pub fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

pub fn observation(score: f64) -> Observation {
    Observation {
        source: "test".into(),
        observed_at: DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&Utc),
        rank: None,
        volume: Some(100),
        score,
        estimated: false,
        confidence: 0.8,
    }
}

pub fn observe(score: f64) -> TrendCommand {
    TrendCommand::Observe {
        keyword: "cat mom".into(),
        niche: "pets".into(),
        product_types: vec!["t-shirt".into()],
        observation: observation(score),
    }
}

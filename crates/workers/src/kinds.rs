//! The worker kinds and how each is assembled from settings: the one place
//! that chooses providers (offline by default).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use pod_events::Namespace;
use pod_events::store::StoreError;

use crate::config::WorkersSettings;
use crate::designs::Designs;
use crate::designs::blob::LocalBlobStore;
use crate::designs::typographic::TypographicRenderer;
use crate::ideation::Ideation;
use crate::ideation::offline::OfflineIdeas;
use crate::listings::Listings;
use crate::pipeline::Pipeline;
use crate::runtime::{Handler, Worker, WorkerError, WorkerOptions};
use crate::screening::{Screening, ScreeningIndex};
use crate::trends::{TrendsError, TrendsWorker};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerKind {
    Trends,
    Ideation,
    Screening,
    Designs,
    Listings,
}

impl WorkerKind {
    pub const ALL: [WorkerKind; 5] = [Self::Trends, Self::Ideation, Self::Screening, Self::Designs, Self::Listings];
    /// The kinds that consume the event log (all but `trends`, which polls sources).
    pub const CONSUMERS: [WorkerKind; 4] = [Self::Ideation, Self::Screening, Self::Designs, Self::Listings];

    pub fn name(self) -> &'static str {
        match self {
            Self::Trends => "trends",
            Self::Ideation => "ideation",
            Self::Screening => "screening",
            Self::Designs => "designs",
            Self::Listings => "listings",
        }
    }
}

impl std::fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WorkerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
            format!("unknown worker kind {s:?}; the kinds are {}", names.join(", "))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the event store: {0}")]
    Store(#[from] StoreError),
    #[error("screening list {path}: {reason}")]
    ScreeningList { path: String, reason: String },
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error(transparent)]
    Trends(#[from] TrendsError),
}

/// The screening index: the bundled list plus the configured extra lists.
pub fn screening_index(settings: &WorkersSettings) -> Result<ScreeningIndex, StartError> {
    let mut index = ScreeningIndex::curated();
    for path in &settings.screening.extra_lists {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::ScreeningList { path: shown.clone(), reason: e.to_string() })?;
        index.load_tsv(&text, "list").map_err(|e| StartError::ScreeningList { path: shown, reason: e.to_string() })?;
    }
    Ok(index)
}

/// The handler of an event-consuming kind (None for `trends`).
pub fn handler(
    kind: WorkerKind,
    pipeline: Arc<Pipeline>,
    settings: &WorkersSettings,
) -> Result<Option<Arc<dyn Handler>>, StartError> {
    Ok(Some(match kind {
        WorkerKind::Trends => return Ok(None),
        WorkerKind::Ideation => Arc::new(Ideation::new(pipeline, Arc::new(OfflineIdeas), settings.ideation.clone())),
        WorkerKind::Screening => {
            Arc::new(Screening::new(pipeline, Arc::new(screening_index(settings)?), settings.screening.clone()))
        }
        WorkerKind::Designs => Arc::new(Designs::new(
            pipeline,
            Arc::new(TypographicRenderer),
            Arc::new(LocalBlobStore::new(settings.assets_dir.clone())),
        )),
        WorkerKind::Listings => Arc::new(Listings::new(pipeline, settings.pricing.clone())),
    }))
}

/// Runs one worker of `kind` until `shutdown`.
pub async fn run(
    kind: WorkerKind,
    client: async_nats::Client,
    ns: Namespace,
    settings: &WorkersSettings,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    let pipeline = Arc::new(Pipeline::open(client.clone(), &ns).await?);
    match handler(kind, pipeline.clone(), settings)? {
        Some(h) => {
            let options = WorkerOptions {
                concurrency: settings.concurrency.max(1),
                max_deliveries: settings.max_deliveries.max(1),
                ..Default::default()
            };
            Worker::new(client, ns, h, options).run(shutdown).await?;
        }
        None => TrendsWorker::new(pipeline, &settings.trends, None)?.run(shutdown).await?,
    }
    Ok(())
}

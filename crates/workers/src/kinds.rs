//! The worker kinds and how each is assembled from settings: the one place
//! that chooses providers (offline by default).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use pod_events::Namespace;
use pod_events::store::StoreError;

use crate::config::WorkersSettings;
use crate::designs::openai::OpenAiImages;
use crate::designs::typographic::TypographicRenderer;
use crate::designs::{Designs, Renderer};
use crate::etsy_session::EtsyApp;
use crate::ideation::offline::OfflineIdeas;
use crate::ideation::openai::OpenAiIdeas;
use crate::ideation::{IdeaProvider, Ideation};
use crate::listings::Listings;
use crate::openai::OpenAi;
use crate::pipeline::Pipeline;
use crate::publishing::Publishing;
use crate::publishing::etsy::EtsyPublisher;
use crate::publishing::printify::PrintifyPublisher;
use crate::runtime::{Handler, Worker, WorkerError, WorkerOptions};
use crate::screening::{Screening, ScreeningIndex};
use crate::sync::EtsySync;
use crate::trends::browser::ChromiumScraper;
use crate::trends::sources::{PageScraper, SourceKind};
use crate::trends::{TrendsError, TrendsWorker};
use pod_blobs::S3BlobStore;
use pod_blobs::{BlobStore, LocalBlobStore};
use pod_marketplaces::{Keyring, MarketplacesSettings};

/// What the publishing worker needs to reach connected shops: the
/// credentials store, the keys that open it, and the marketplaces' settings.
#[derive(Clone)]
pub struct ShopAccess {
    pub pool: sqlx::PgPool,
    pub keys: Arc<Keyring>,
    pub marketplaces: MarketplacesSettings,
    /// Where the app's OAuth client sends sellers back (Etsy's client is
    /// one client, connecting or refreshing).
    pub etsy_redirect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerKind {
    Trends,
    Ideation,
    Screening,
    Designs,
    Listings,
    Publishing,
    /// Polls connected Etsy shops: receipts become orders, listings' drift.
    Sync,
}

impl WorkerKind {
    pub const ALL: [WorkerKind; 7] =
        [Self::Trends, Self::Ideation, Self::Screening, Self::Designs, Self::Listings, Self::Publishing, Self::Sync];
    /// The kinds that consume the event log (all but `trends` and `sync`, which poll).
    pub const CONSUMERS: [WorkerKind; 5] =
        [Self::Ideation, Self::Screening, Self::Designs, Self::Listings, Self::Publishing];

    pub fn name(self) -> &'static str {
        match self {
            Self::Trends => "trends",
            Self::Ideation => "ideation",
            Self::Screening => "screening",
            Self::Designs => "designs",
            Self::Listings => "listings",
            Self::Publishing => "publishing",
            Self::Sync => "sync",
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
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error(transparent)]
    Trends(#[from] TrendsError),
    #[error("setting {field}: {reason}")]
    Settings { field: &'static str, reason: String },
}

fn openai(settings: &WorkersSettings, field: &'static str) -> Result<OpenAi, StartError> {
    if settings.openai.api_key.as_deref().is_none_or(str::is_empty) {
        return Err(StartError::Settings {
            field,
            reason: "`openai` needs workers.openai.api_key (or POD__WORKERS__OPENAI__API_KEY)".into(),
        });
    }
    OpenAi::new(settings.openai.clone()).map_err(|e| StartError::Settings { field, reason: e.to_string() })
}

/// The idea provider the settings choose.
pub fn idea_provider(settings: &WorkersSettings) -> Result<Arc<dyn IdeaProvider>, StartError> {
    match settings.ideas_provider.as_str() {
        "offline" => Ok(Arc::new(OfflineIdeas)),
        "openai" => Ok(Arc::new(OpenAiIdeas::new(openai(settings, "workers.ideas_provider")?))),
        other => Err(StartError::Settings {
            field: "workers.ideas_provider",
            reason: format!("{other:?}: use offline or openai"),
        }),
    }
}

/// The image renderer the settings choose.
pub fn renderer(settings: &WorkersSettings) -> Result<Arc<dyn Renderer>, StartError> {
    match settings.images_provider.as_str() {
        "offline" | "typographic" => Ok(Arc::new(TypographicRenderer)),
        "openai" => Ok(Arc::new(OpenAiImages::new(openai(settings, "workers.images_provider")?))),
        other => Err(StartError::Settings {
            field: "workers.images_provider",
            reason: format!("{other:?}: use offline or openai"),
        }),
    }
}

/// The blob store the settings choose.
pub async fn blob_store(settings: &WorkersSettings) -> Result<Arc<dyn BlobStore>, StartError> {
    match settings.blob_store.as_str() {
        "local" => Ok(Arc::new(LocalBlobStore::new(settings.assets_dir.clone()))),
        "s3" => Ok(Arc::new(S3BlobStore::new(settings.s3.clone()).await)),
        other => {
            Err(StartError::Settings { field: "workers.blob_store", reason: format!("{other:?}: use local or s3") })
        }
    }
}

/// The screening index: the bundled list plus the configured lists.
pub fn screening_index(settings: &WorkersSettings) -> Result<ScreeningIndex, StartError> {
    pod_screening::load_index(&settings.screening.trademarks_list, &settings.screening.extra_lists)
        .map_err(|e| StartError::Settings { field: "workers.screening", reason: e.to_string() })
}

/// The handler of an event-consuming kind (None for `trends`).
pub async fn handler(
    kind: WorkerKind,
    pipeline: Arc<Pipeline>,
    settings: &WorkersSettings,
    shops: Option<&ShopAccess>,
) -> Result<Option<Arc<dyn Handler>>, StartError> {
    Ok(Some(match kind {
        WorkerKind::Trends | WorkerKind::Sync => return Ok(None),
        WorkerKind::Ideation => Arc::new(
            Ideation::new(pipeline, idea_provider(settings)?, settings.ideation.clone())
                .with_budget(settings.openai.monthly_budget_micros),
        ),
        WorkerKind::Screening => {
            Arc::new(Screening::new(pipeline, Arc::new(screening_index(settings)?), settings.screening.clone()))
        }
        WorkerKind::Designs => Arc::new(
            Designs::new(pipeline, renderer(settings)?, blob_store(settings).await?)
                .with_budget(settings.openai.monthly_budget_micros),
        ),
        WorkerKind::Listings => {
            Arc::new(Listings::new(pipeline, settings.pricing.clone(), Arc::new(screening_index(settings)?)))
        }
        WorkerKind::Publishing => {
            let mut publishing = Publishing::new(pipeline, blob_store(settings).await?);
            if let Some(access) = shops {
                let printify =
                    PrintifyPublisher::new(&access.marketplaces.printify, access.pool.clone(), access.keys.clone())
                        .map_err(|e| StartError::Settings { field: "marketplaces.printify", reason: e.to_string() })?;
                publishing = publishing.with_printify(printify);
                let etsy = &access.marketplaces.etsy;
                if etsy.keystring.as_deref().is_some_and(|k| !k.trim().is_empty()) {
                    let etsy =
                        EtsyPublisher::new(etsy, &access.etsy_redirect, access.pool.clone(), access.keys.clone())
                            .map_err(|reason| StartError::Settings { field: "marketplaces.etsy", reason })?;
                    publishing = publishing.with_etsy(etsy);
                }
            }
            Arc::new(publishing)
        }
    }))
}

/// Polls the connected Etsy shops until `shutdown`; with no Etsy app or
/// vault keys there is nothing to poll, and it waits, saying so.
async fn sync(
    pipeline: Arc<Pipeline>,
    shops: Option<&ShopAccess>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    let etsy = shops.filter(|a| a.marketplaces.etsy.keystring.as_deref().is_some_and(|k| !k.trim().is_empty()));
    let Some(access) = etsy else {
        tracing::info!("sync: no Etsy app (marketplaces.etsy.keystring) or vault keys here: nothing to poll");
        shutdown.await;
        return Ok(());
    };
    let app = EtsyApp::new(&access.marketplaces.etsy, &access.etsy_redirect, access.pool.clone(), access.keys.clone())
        .map_err(|reason| StartError::Settings { field: "marketplaces.etsy", reason })?;
    EtsySync::new(pipeline, access.pool.clone(), app).run(shutdown).await;
    Ok(())
}

/// Runs one worker of `kind` until `shutdown`.
pub async fn run(
    kind: WorkerKind,
    client: async_nats::Client,
    ns: Namespace,
    settings: &WorkersSettings,
    shops: Option<&ShopAccess>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    let pipeline = Arc::new(Pipeline::open(client.clone(), &ns).await?);
    if kind == WorkerKind::Sync {
        return sync(pipeline, shops, shutdown).await;
    }
    match handler(kind, pipeline.clone(), settings, shops).await? {
        Some(h) => {
            let options = WorkerOptions {
                concurrency: settings.concurrency.max(1),
                max_deliveries: settings.max_deliveries.max(1),
                grace: std::time::Duration::from_secs(settings.shutdown_grace_secs),
                ..Default::default()
            };
            Worker::new(client, ns, h, options).run(shutdown).await?;
        }
        None => {
            let needs_browser = settings.trends.sources.iter().any(|s| s.kind == SourceKind::Page);
            let scraper: Option<Arc<dyn PageScraper>> = if needs_browser && !settings.chromium.as_os_str().is_empty() {
                let s = ChromiumScraper::new(&settings.chromium)
                    .map_err(|e| StartError::Settings { field: "workers.chromium", reason: e.to_string() })?;
                Some(Arc::new(s))
            } else {
                None
            };
            TrendsWorker::new(pipeline, &settings.trends, scraper)?.run(shutdown).await?
        }
    }
    Ok(())
}

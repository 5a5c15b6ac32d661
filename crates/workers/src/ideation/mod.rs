//! Ideation: a trend whose score reaches the threshold becomes product ideas.
//!
//! Idea ids derive from the trend and the idea's position, and the trend is
//! marked ideated only after its ideas exist, so a crash anywhere in between
//! regenerates the same ids: nothing is duplicated, nothing is lost.

pub mod offline;
pub mod openai;

use pod_events::domain::idea::{IdeaCommand, IdeaError, IdeaGenerated};
use pod_events::domain::trend::{TrendCommand, TrendError, TrendEvent, TrendIdeated};
use pod_events::{AggregateId, EventMeta, RecordedEvent};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use crate::budget;
use crate::pipeline::{Pipeline, settle, source_id, store_failure};
pub use crate::provider::ProviderError;
use crate::runtime::{Handler, HandlerError};

/// What a provider is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct IdeaRequest {
    pub trend_id: Uuid,
    pub keyword: String,
    pub niche: String,
    pub product_types: Vec<String>,
    pub count: usize,
}

/// One idea as a provider proposes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdeaDraft {
    pub phrase: String,
    pub niche: String,
    pub product_type: String,
    pub style: String,
    pub audience: String,
    pub tags: Vec<String>,
}

/// A provider's answer and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Ideas {
    pub drafts: Vec<IdeaDraft>,
    pub model: Option<String>,
    pub cost_micros: u64,
}

/// Something that turns a trend into ideas.
#[async_trait::async_trait]
pub trait IdeaProvider: Send + Sync {
    /// `offline` or `openai`, recorded on every idea.
    fn name(&self) -> &'static str;
    /// Whether calls cost money (and so count against the tenant's budget).
    fn paid(&self) -> bool {
        false
    }
    async fn ideas(&self, req: &IdeaRequest) -> Result<Ideas, ProviderError>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdeationSettings {
    /// Trends scoring below this (0–100) are not turned into ideas.
    pub min_score: f64,
    /// Ideas asked for per trend.
    pub ideas_per_trend: usize,
}

impl Default for IdeationSettings {
    fn default() -> Self {
        Self { min_score: 50.0, ideas_per_trend: 3 }
    }
}

pub struct Ideation {
    pipeline: Arc<Pipeline>,
    provider: Arc<dyn IdeaProvider>,
    settings: IdeationSettings,
    budget_micros: u64,
    /// Observations of one trend are handled one at a time in this process
    /// (a bulk import writes several at once): the second then finds the
    /// trend ideated instead of paying for the same ideas again.
    trend_locks: Vec<tokio::sync::Mutex<()>>,
}

const TREND_LOCK_STRIPES: usize = 64;

impl Ideation {
    pub fn new(pipeline: Arc<Pipeline>, provider: Arc<dyn IdeaProvider>, settings: IdeationSettings) -> Self {
        let trend_locks = (0..TREND_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Self { pipeline, provider, settings, budget_micros: 0, trend_locks }
    }

    /// The tenant's monthly budget for a paid provider (0: none).
    pub fn with_budget(mut self, micros: u64) -> Self {
        self.budget_micros = micros;
        self
    }

    /// The id of a trend's `n`-th idea.
    pub fn idea_id(trend: &AggregateId, n: usize) -> AggregateId {
        AggregateId::derived(trend.tenant.clone(), "idea", &format!("{}:{n}", trend.id))
    }
}

#[async_trait::async_trait]
impl Handler for Ideation {
    fn kind(&self) -> &'static str {
        "ideation"
    }
    fn wants(&self, event_type: &str) -> bool {
        event_type == "TrendObserved"
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let TrendEvent::TrendObserved(observed) = event.to_domain::<TrendEvent>().map_err(HandlerError::permanent)?
        else {
            return Ok(());
        };
        if observed.observation.score < self.settings.min_score {
            return Ok(());
        }
        let trend_id = source_id(event)?;
        let stripe = (trend_id.id.as_u128() % TREND_LOCK_STRIPES as u128) as usize;
        let _serial = self.trend_locks[stripe].lock().await;
        let store = self.pipeline.trends.store();
        // The cache answers the common case (already ideated) cheaply; a
        // provider call is only made on the stream's own state.
        if store.load(&trend_id).await.map_err(store_failure)?.aggregate.ideated {
            return Ok(());
        }
        let trend = store.load_fresh(&trend_id).await.map_err(store_failure)?.aggregate;
        if trend.ideated || trend.retired {
            return Ok(());
        }
        let request = IdeaRequest {
            trend_id: trend_id.id,
            keyword: observed.normalized.clone(),
            niche: observed.niche.clone(),
            product_types: observed.product_types.clone(),
            count: self.settings.ideas_per_trend.max(1),
        };
        let now = chrono::Utc::now();
        if self.provider.paid() {
            budget::ensure_allowed(&self.pipeline, &trend_id.tenant, now, self.budget_micros).await?;
        }
        let ideas = self.provider.ideas(&request).await?;
        if self.provider.paid() {
            // Each paid call is charged: a redelivery that calls again pays again.
            let mut meta = EventMeta::caused_by(event, "charge");
            meta.command_id = uuid::Uuid::now_v7().to_string();
            budget::charge(&self.pipeline, &trend_id.tenant, now, "chat", ideas.cost_micros, self.budget_micros, &meta)
                .await?;
        }
        let per_idea_cost = ideas.cost_micros / (ideas.drafts.len().max(1) as u64);
        for (n, draft) in ideas.drafts.iter().enumerate() {
            let generated = IdeaGenerated {
                trend_id: trend_id.id,
                phrase: draft.phrase.clone(),
                niche: draft.niche.clone(),
                product_type: draft.product_type.clone(),
                style: draft.style.clone(),
                audience: draft.audience.clone(),
                tags: draft.tags.clone(),
                provider: self.provider.name().to_owned(),
                model: ideas.model.clone(),
                cost_micros: per_idea_cost,
            };
            let meta = EventMeta::caused_by(event, &format!("idea:{n}"));
            settle(&self.pipeline.ideas, &Self::idea_id(&trend_id, n), IdeaCommand::Generate(generated), &meta, |e| {
                *e == IdeaError::AlreadyGenerated
            })
            .await?;
        }
        let ideated = TrendIdeated {
            ideas: ideas.drafts.len() as u32,
            provider: self.provider.name().to_owned(),
            cost_micros: ideas.cost_micros,
        };
        let meta = EventMeta::caused_by(event, "ideated");
        settle(&self.pipeline.trends, &trend_id, TrendCommand::RecordIdeation(ideated), &meta, |e| {
            *e == TrendError::AlreadyIdeated
        })
        .await?;
        Ok(())
    }
}

//! Ideation: a trend whose score reaches the threshold becomes product ideas.
//!
//! Idea ids derive from the trend, the round and the idea's position, and the
//! round is marked ideated only after its ideas exist, so a crash anywhere in
//! between regenerates the same ids: nothing is duplicated, nothing is lost.
//!
//! Round 0 is automatic, from a trend's observation reaching the threshold;
//! rounds 1, 2, … are asked for (`TrendIdeasRequested`), whatever the score,
//! possibly in place of an idea, which is rejected once its replacement exists.

pub mod offline;
pub mod openai;

use pod_events::domain::Actor;
use pod_events::domain::idea::{Generation, IdeaCommand, IdeaError, IdeaGenerated};
use pod_events::domain::text::RejectReason;
use pod_events::domain::trend::{Trend, TrendCommand, TrendError, TrendEvent, TrendIdeated};
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
    /// 0 for the first ideas of a trend; n for the n-th round asked for since.
    pub round: u32,
    /// How many ideas the rounds before this one took (an engine that walks
    /// a list starts after them).
    pub skip: usize,
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

    /// The id of a trend's `n`-th idea of round 0.
    pub fn idea_id(trend: &AggregateId, n: usize) -> AggregateId {
        Self::round_idea_id(trend, 0, n)
    }

    /// The id of the `n`-th idea of a round.
    pub fn round_idea_id(trend: &AggregateId, round: u32, n: usize) -> AggregateId {
        let key = if round == 0 { format!("{}:{n}", trend.id) } else { format!("{}:r{round}:{n}", trend.id) };
        AggregateId::derived(trend.tenant.clone(), "idea", &key)
    }
}

/// What one round is: its number, how many ideas, which idea it replaces.
struct Round {
    number: u32,
    count: usize,
    replacing: Option<(Uuid, Actor)>,
}

#[async_trait::async_trait]
impl Handler for Ideation {
    fn kind(&self) -> &'static str {
        "ideation"
    }
    fn wants(&self, event_type: &str) -> bool {
        matches!(event_type, "TrendObserved" | "TrendIdeasRequested")
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let round = match event.to_domain::<TrendEvent>().map_err(HandlerError::permanent)? {
            TrendEvent::TrendObserved(observed) if observed.observation.score >= self.settings.min_score => {
                Round { number: 0, count: self.settings.ideas_per_trend.max(1), replacing: None }
            }
            TrendEvent::TrendIdeasRequested(asked) => Round {
                number: asked.round,
                count: asked.count.max(1) as usize,
                replacing: asked.replacing.map(|id| (id, asked.by)),
            },
            _ => return Ok(()),
        };
        let trend_id = source_id(event)?;
        let stripe = (trend_id.id.as_u128() % TREND_LOCK_STRIPES as u128) as usize;
        let _serial = self.trend_locks[stripe].lock().await;
        let store = self.pipeline.trends.store();
        // The cache answers the common case (already ideated) cheaply; a
        // provider call is only made on the stream's own state.
        if done(&store.load(&trend_id).await.map_err(store_failure)?.aggregate, round.number) {
            return Ok(());
        }
        let trend = store.load_fresh(&trend_id).await.map_err(store_failure)?.aggregate;
        if done(&trend, round.number) || trend.retired {
            return Ok(());
        }
        let request = IdeaRequest {
            trend_id: trend_id.id,
            keyword: trend.normalized.clone().unwrap_or_default(),
            niche: trend.niche.clone(),
            product_types: trend.product_types.clone(),
            count: round.count,
            round: round.number,
            skip: trend.ideas_before(round.number, self.settings.ideas_per_trend.max(1) as u32) as usize,
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
            let id = Self::round_idea_id(&trend_id, round.number, n);
            let generated = Generation::parse(generated).map_err(HandlerError::permanent)?;
            settle(&self.pipeline.ideas, &id, IdeaCommand::Generate(generated), &meta, |e| {
                *e == IdeaError::AlreadyGenerated
            })
            .await?;
        }
        // The idea it replaces steps aside once its replacement exists (if
        // nobody decided on it meanwhile).
        if let Some((replaced, by)) = round.replacing
            && !ideas.drafts.is_empty()
        {
            let meta = EventMeta::caused_by(event, "replaced");
            let reason = RejectReason::parse("replaced by a new idea").map_err(HandlerError::permanent)?;
            let reject = IdeaCommand::Reject { by, reason };
            let id = AggregateId::new(trend_id.tenant.clone(), replaced);
            settle(&self.pipeline.ideas, &id, reject, &meta, |e| {
                matches!(e, IdeaError::AlreadyDecided(_) | IdeaError::Unknown)
            })
            .await?;
        }
        let ideated = TrendIdeated {
            ideas: ideas.drafts.len() as u32,
            provider: self.provider.name().to_owned(),
            cost_micros: ideas.cost_micros,
            round: round.number,
        };
        let meta = EventMeta::caused_by(event, "ideated");
        settle(&self.pipeline.trends, &trend_id, TrendCommand::RecordIdeation(ideated), &meta, |e| {
            *e == TrendError::AlreadyIdeated
        })
        .await?;
        Ok(())
    }
}

/// Whether a round of this trend already became ideas.
fn done(trend: &Trend, round: u32) -> bool {
    if round == 0 { trend.ideated } else { trend.rounds_ideated.contains(&round) }
}

//! Design rendering: an approved idea is given a design request (layout,
//! palette, print area), the request is rendered, and the artwork and its
//! preview are stored content-addressed before `DesignRendered` records
//! their keys, checksums and sizes.

pub mod openai;
pub mod typographic;

use std::sync::Arc;

use pod_events::domain::design::{
    Asset, DesignCommand, DesignError, DesignEvent, DesignFailed, DesignRegenerationRequested, DesignRendered,
    DesignRequested, PrintArea,
};
use pod_events::domain::idea::IdeaEvent;
use pod_events::{AggregateId, EventMeta, RecordedEvent};

use self::typographic::{Layout, Palette};
use crate::budget;
use crate::pipeline::{Pipeline, settle, source_id, store_failure};
use crate::provider::ProviderError;
use crate::runtime::{Handler, HandlerError};
use pod_blobs::{BlobStore, StoredBlob};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the phrase has nothing to set")]
    EmptyPhrase,
    #[error("font: {0}")]
    Font(String),
    #[error("print area {width}×{height} is not a size we can render")]
    PrintArea { width: u32, height: u32 },
    #[error("PNG encoding: {0}")]
    Encode(String),
}

/// A renderer's output: PNG bytes and their sizes.
#[derive(Debug, Clone)]
pub struct RenderedImages {
    pub artwork_png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub preview_png: Vec<u8>,
    pub preview_width: u32,
    pub preview_height: u32,
    pub cost_micros: u64,
}

#[async_trait::async_trait]
pub trait Renderer: Send + Sync {
    /// `typographic` or `openai`, recorded on the design.
    fn name(&self) -> &'static str;
    /// Whether calls cost money (and so count against the tenant's budget).
    fn paid(&self) -> bool {
        false
    }
    async fn render(&self, req: &DesignRequested) -> Result<RenderedImages, ProviderError>;
}

/// The print area of a product type (Printify's common placeholders).
pub fn print_area(product_type: &str) -> PrintArea {
    let (width, height) = match product_type {
        "mug" => (2700, 1050),
        "tumbler" => (2790, 2460),
        "sticker" => (1500, 1500),
        "tote bag" => (3600, 3600),
        "hat" => (1500, 900),
        "ornament" => (1200, 1200),
        "poster" | "print" => (5400, 7200),
        "phone case" => (1200, 2400),
        // Shirts, sweatshirts, hoodies, onesies: a front print.
        _ => (4500, 5400),
    };
    PrintArea { width, height, dpi: 300 }
}

/// The design of an idea has an id derived from the idea's.
pub fn design_id(idea: &AggregateId) -> AggregateId {
    AggregateId::derived(idea.tenant.clone(), "design", &idea.id.to_string())
}

pub struct Designs {
    pipeline: Arc<Pipeline>,
    renderer: Arc<dyn Renderer>,
    blobs: Arc<dyn BlobStore>,
    budget_micros: u64,
}

impl Designs {
    pub fn new(pipeline: Arc<Pipeline>, renderer: Arc<dyn Renderer>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { pipeline, renderer, blobs, budget_micros: 0 }
    }

    /// The tenant's monthly budget for a paid renderer (0: none).
    pub fn with_budget(mut self, micros: u64) -> Self {
        self.budget_micros = micros;
        self
    }

    async fn request(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let idea_id = source_id(event)?;
        let idea = self.pipeline.ideas.store().load(&idea_id).await.map_err(store_failure)?.aggregate;
        let Some(content) = idea.content else {
            return Err(HandlerError::permanent(format!("idea {idea_id} was approved but never generated")));
        };
        let request = DesignRequested {
            idea_id: idea_id.id,
            phrase: content.phrase.clone(),
            niche: content.niche.clone(),
            product_type: content.product_type.clone(),
            layout: Layout::for_style(&content.style).name().to_owned(),
            palette: Palette::for_niche(&content.niche).name.to_owned(),
            print_area: print_area(&content.product_type),
        };
        settle(
            &self.pipeline.designs,
            &design_id(&idea_id),
            DesignCommand::Request(request),
            &EventMeta::caused_by(event, "request"),
            |e| *e == DesignError::AlreadyRequested,
        )
        .await?;
        Ok(())
    }

    /// Another take: the design's request in the layout and palette this
    /// event names (not whatever the design says by the time we run).
    async fn render_again(
        &self,
        event: &RecordedEvent,
        again: DesignRegenerationRequested,
    ) -> Result<(), HandlerError> {
        let id = source_id(event)?;
        let design = self.pipeline.designs.store().load(&id).await.map_err(store_failure)?.aggregate;
        let Some(mut request) = design.request.map(|r| *r) else {
            return Err(HandlerError::permanent(format!("design {id} was regenerated but never requested")));
        };
        request.layout = again.layout;
        request.palette = again.palette;
        self.render(event, request, again.attempt).await
    }

    /// Renders `request`, the design's request number `attempt`, and records
    /// it: unless the design no longer awaits that request (another take was
    /// asked for since, or it was rendered), in which case nothing is called
    /// and nothing is paid for.
    async fn render(&self, event: &RecordedEvent, request: DesignRequested, attempt: u32) -> Result<(), HandlerError> {
        let id = source_id(event)?;
        let done = |e: &DesignError| {
            matches!(e, DesignError::AlreadyRendered | DesignError::AlreadyDecided | DesignError::Superseded { .. })
        };
        let design = self.pipeline.designs.store().load_fresh(&id).await.map_err(store_failure)?.aggregate;
        if !design.awaits(attempt) {
            tracing::info!(design = %id, attempt, current = design.current_request(), status = ?design.status,
                "the design no longer awaits this request; not rendering it");
            return Ok(());
        }
        let now = chrono::Utc::now();
        if self.renderer.paid() {
            budget::ensure_allowed(&self.pipeline, &id.tenant, now, self.budget_micros).await?;
        }
        let images = match self.renderer.render(&request).await {
            Ok(images) => {
                if self.renderer.paid() {
                    // Each paid call is charged: a redelivery that calls again pays again.
                    let mut meta = EventMeta::caused_by(event, "charge");
                    meta.command_id = uuid::Uuid::now_v7().to_string();
                    budget::charge(
                        &self.pipeline,
                        &id.tenant,
                        now,
                        "image",
                        images.cost_micros,
                        self.budget_micros,
                        &meta,
                    )
                    .await?;
                }
                images
            }
            Err(ProviderError::Permanent { reason }) => {
                // The design says it failed, and why; nothing to retry.
                // A provider's words, made safe to store.
                let reason = pod_events::domain::text::note(&reason);
                let failed = DesignCommand::RecordFailure(DesignFailed { reason, retryable: false, attempt });
                settle(&self.pipeline.designs, &id, failed, &EventMeta::caused_by(event, "failed"), done).await?;
                return Ok(());
            }
            Err(transient) => return Err(transient.into()),
        };
        let store = |kind: &'static str, bytes: Vec<u8>| async move {
            self.blobs
                .put(kind, "png", "image/png", bytes)
                .await
                .map_err(|e| HandlerError::transient(format!("storing {kind}: {e}")))
        };
        let artwork: StoredBlob = store("artwork", images.artwork_png).await?;
        let preview: StoredBlob = store("preview", images.preview_png).await?;
        let asset = |b: StoredBlob, width, height| Asset {
            key: b.key,
            sha256: b.sha256,
            bytes: b.bytes,
            width,
            height,
            content_type: "image/png".into(),
        };
        let rendered = DesignRendered {
            artwork: asset(artwork, images.width, images.height),
            preview: asset(preview, images.preview_width, images.preview_height),
            renderer: self.renderer.name().to_owned(),
            cost_micros: images.cost_micros,
            attempt,
        };
        settle(
            &self.pipeline.designs,
            &id,
            DesignCommand::RecordRender(rendered),
            &EventMeta::caused_by(event, "render"),
            done,
        )
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler for Designs {
    fn kind(&self) -> &'static str {
        "designs"
    }
    fn wants(&self, event_type: &str) -> bool {
        matches!(event_type, "IdeaApproved" | "DesignRequested" | "DesignRegenerationRequested")
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        match event.aggregate_type.as_str() {
            "idea" => match event.to_domain::<IdeaEvent>().map_err(HandlerError::permanent)? {
                IdeaEvent::IdeaApproved(_) => self.request(event).await,
                _ => Ok(()),
            },
            "design" => match event.to_domain::<DesignEvent>().map_err(HandlerError::permanent)? {
                DesignEvent::DesignRequested(req) => self.render(event, req, 0).await,
                DesignEvent::DesignRegenerationRequested(again) => self.render_again(event, again).await,
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

//! Listing composition: a rendered design becomes a draft listing (title,
//! description, 13 tags, price, SEO score with its checks). People edit
//! drafts through the API; every edit is a revision event.

pub mod compose;
pub mod pricing;

use std::sync::Arc;

use pod_events::domain::design::DesignEvent;
use pod_events::domain::idea::IdeaScreened;
use pod_events::domain::listing::{Draft, ListingCommand, ListingError};
use pod_events::domain::listing_text::Tags;
use pod_events::domain::text::Description;
use pod_events::{AggregateId, EventMeta, RecordedEvent};

use self::compose::{ListingBrief, compose};
use self::pricing::PricingSettings;
use crate::pipeline::{Pipeline, settle, source_id, store_failure};
use crate::runtime::{Handler, HandlerError};
use crate::screening::{ScreeningIndex, nice_class, screen_fields, verdict_of};

/// The listing of a design has an id derived from the design's.
pub fn listing_id(design: &AggregateId) -> AggregateId {
    AggregateId::derived(design.tenant.clone(), "listing", &design.id.to_string())
}

pub struct Listings {
    pipeline: Arc<Pipeline>,
    pricing: PricingSettings,
    index: Arc<ScreeningIndex>,
}

impl Listings {
    pub fn new(pipeline: Arc<Pipeline>, pricing: PricingSettings, index: Arc<ScreeningIndex>) -> Self {
        Self { pipeline, pricing, index }
    }
}

#[async_trait::async_trait]
impl Handler for Listings {
    fn kind(&self) -> &'static str {
        "listings"
    }
    fn wants(&self, event_type: &str) -> bool {
        event_type == "DesignRendered"
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let DesignEvent::DesignRendered(_) = event.to_domain::<DesignEvent>().map_err(HandlerError::permanent)? else {
            return Ok(());
        };
        let design_id = source_id(event)?;
        let design = self.pipeline.designs.store().load(&design_id).await.map_err(store_failure)?.aggregate;
        let Some(request) = design.request else {
            return Err(HandlerError::permanent(format!("design {design_id} was rendered but never requested")));
        };
        let idea_id = AggregateId::new(design_id.tenant.clone(), request.idea_id);
        let idea = self.pipeline.ideas.store().load(&idea_id).await.map_err(store_failure)?.aggregate;
        let Some(content) = idea.content else {
            return Err(HandlerError::permanent(format!("idea {idea_id} of design {design_id} has no content")));
        };
        let trend_id = AggregateId::new(design_id.tenant.clone(), content.trend_id);
        let trend = self.pipeline.trends.store().load(&trend_id).await.map_err(store_failure)?.aggregate;
        let keyword = trend.normalized.clone().unwrap_or_else(|| content.phrase.to_lowercase());
        let brief = ListingBrief {
            phrase: &content.phrase,
            keyword: &keyword,
            niche: &content.niche,
            product_type: &content.product_type,
            style: &content.style,
            audience: &content.audience,
            tags: &content.tags,
        };
        let composed = compose(&brief).map_err(|e| HandlerError::permanent(format!("composing the title: {e}")))?;
        let quote = self.pricing.quote(&content.product_type).map_err(HandlerError::permanent)?;
        // The composed text is screened too: it adds words the idea did not have.
        // Each tag on its own: a match must not span two tags.
        let fields: Vec<(&str, &str)> =
            [("title", composed.title.as_str()), ("description", composed.description.as_str())]
                .into_iter()
                .chain(composed.tags.iter().map(|t| ("tag", t.as_str())))
                .collect();
        let hits = screen_fields(&self.index, &fields, nice_class(&content.product_type));
        let screening = IdeaScreened { verdict: verdict_of(&hits), hits, index_version: self.index.version() };
        // The composer's text is parsed like anyone's: a description or tag
        // list it should never make is refused here, not written.
        let description = Description::parse(&composed.description)
            .map_err(|e| HandlerError::permanent(format!("composing the description: {e}")))?;
        let tags =
            Tags::from_tags(composed.tags).map_err(|e| HandlerError::permanent(format!("composing the tags: {e}")))?;
        let draft = Draft {
            idea_id: idea_id.id,
            design_id: design_id.id,
            title: composed.title,
            description,
            tags,
            price_cents: quote.price_cents,
            currency: self.pricing.currency.clone(),
            seo_score: composed.seo.score,
            seo_checks: composed.seo.checks,
            screening: Some(screening),
        };
        settle(
            &self.pipeline.listings,
            &listing_id(&design_id),
            ListingCommand::Draft(draft),
            &EventMeta::caused_by(event, "draft"),
            |e| *e == ListingError::AlreadyDrafted,
        )
        .await?;
        Ok(())
    }
}

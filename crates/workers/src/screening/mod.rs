//! Screening: an idea's phrase and tags are checked against the trademark
//! and policy index; the verdict and its hits become an `IdeaScreened`
//! event. Red stops the idea, amber waits for a person, green may be
//! approved by policy (`auto_approve_green`).

use std::sync::Arc;

use pod_events::domain::Actor;
use pod_events::domain::idea::{IdeaCommand, IdeaError, IdeaEvent, IdeaScreened, Verdict};
use pod_events::{EventMeta, RecordedEvent};
use serde::{Deserialize, Serialize};

pub use pod_screening::{
    Hit, MatchKind, ScreeningIndex, index, nice_class, normalize, screen_fields, uspto, verdict, verdict_of,
};

use crate::pipeline::{Pipeline, settle, source_id};
use crate::runtime::{Handler, HandlerError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScreeningSettings {
    /// Approve green ideas automatically (as the policy `auto-approve-green`).
    pub auto_approve_green: bool,
    /// Extra index files (`term<TAB>category<TAB>red|amber[<TAB>classes]`);
    /// each must exist.
    pub extra_lists: Vec<std::path::PathBuf>,
    /// Where `pod trademarks import` writes the USPTO marks; loaded when present.
    pub trademarks_list: std::path::PathBuf,
}

impl Default for ScreeningSettings {
    fn default() -> Self {
        Self {
            auto_approve_green: true,
            extra_lists: Vec::new(),
            trademarks_list: std::path::PathBuf::from("data/trademarks/uspto.tsv"),
        }
    }
}

pub struct Screening {
    pipeline: Arc<Pipeline>,
    index: Arc<ScreeningIndex>,
    settings: ScreeningSettings,
}

impl Screening {
    pub fn new(pipeline: Arc<Pipeline>, index: Arc<ScreeningIndex>, settings: ScreeningSettings) -> Self {
        Self { pipeline, index, settings }
    }
}

#[async_trait::async_trait]
impl Handler for Screening {
    fn kind(&self) -> &'static str {
        "screening"
    }
    fn wants(&self, event_type: &str) -> bool {
        event_type == "IdeaGenerated"
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let IdeaEvent::IdeaGenerated(idea) = event.to_domain::<IdeaEvent>().map_err(HandlerError::permanent)? else {
            return Ok(());
        };
        let id = source_id(event)?;
        // Each tag on its own: a match must not span two tags.
        let fields: Vec<(&str, &str)> = std::iter::once(("phrase", idea.phrase.as_str()))
            .chain(idea.tags.iter().map(|t| ("tag", t.as_str())))
            .collect();
        let hits = screen_fields(&self.index, &fields, nice_class(&idea.product_type));
        let verdict = verdict_of(&hits);
        let screened = IdeaScreened { verdict, hits, index_version: self.index.version() };
        // A decided idea (approved or rejected by a person meanwhile) keeps its decision.
        let decided = |e: &IdeaError| matches!(e, IdeaError::AlreadyDecided(_));
        settle(
            &self.pipeline.ideas,
            &id,
            IdeaCommand::RecordScreening(screened),
            &EventMeta::caused_by(event, "screen"),
            decided,
        )
        .await?;
        if verdict == Verdict::Green && self.settings.auto_approve_green {
            let by = Actor::Policy { name: "auto-approve-green".into() };
            settle(
                &self.pipeline.ideas,
                &id,
                IdeaCommand::Approve { by },
                &EventMeta::caused_by(event, "approve"),
                decided,
            )
            .await?;
        }
        Ok(())
    }
}

//! Screening: an idea's phrase and tags are checked against the trademark
//! and policy index; the verdict and its hits become an `IdeaScreened`
//! event. Red stops the idea, amber waits for a person, green may be
//! approved by policy (`auto_approve_green`).

pub mod index;
pub mod normalize;
pub mod uspto;

use std::sync::Arc;

use pod_events::domain::Actor;
use pod_events::domain::idea::{IdeaCommand, IdeaError, IdeaEvent, IdeaScreened, ScreeningHit, Verdict};
use pod_events::{EventMeta, RecordedEvent};
use serde::{Deserialize, Serialize};

pub use index::{Hit, MatchKind, ScreeningIndex, verdict};

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

/// The Nice class of the goods a product type is printed on.
pub fn nice_class(product_type: &str) -> Option<u16> {
    let p = product_type.to_lowercase();
    Some(match p.as_str() {
        "t-shirt" | "shirt" | "sweatshirt" | "hoodie" | "tank top" | "onesie" | "hat" | "socks" => 25,
        "mug" | "tumbler" | "water bottle" => 21,
        "sticker" | "poster" | "print" | "card" | "notebook" => 16,
        "tote bag" | "backpack" => 18,
        "phone case" => 9,
        "ornament" => 28,
        _ => return None,
    })
}

/// Screens each field of an idea and records which field each hit came from.
/// Each entry is matched on its own: pass tags one by one, so that no match
/// spans two of them.
pub fn screen_fields(index: &ScreeningIndex, fields: &[(&str, &str)], class: Option<u16>) -> Vec<ScreeningHit> {
    let mut out: Vec<ScreeningHit> = Vec::new();
    for (field, text) in fields {
        for h in index.screen(text, class) {
            if out.iter().any(|o| o.term == h.term && o.field == *field) {
                continue;
            }
            out.push(ScreeningHit {
                term: h.term,
                match_kind: h.kind.as_str().to_owned(),
                matched: h.matched,
                field: (*field).to_owned(),
                source: h.source,
                severity: h.severity,
            });
        }
    }
    out
}

/// The overall verdict of recorded hits.
pub fn verdict_of(hits: &[ScreeningHit]) -> Verdict {
    Verdict::worst(hits.iter().map(|h| h.severity))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_never_spans_two_tags() {
        let index = ScreeningIndex::curated();
        let apart = [("tag", "tote bag"), ("tag", "bunny lover")];
        assert!(screen_fields(&index, &apart, Some(25)).is_empty());
        let joined = [("tag", "tote bag, bunny lover")];
        assert_eq!(verdict_of(&screen_fields(&index, &joined, Some(25))), Verdict::Amber, "the window across tags");
        let hits = screen_fields(&index, &[("phrase", "Hello Kitty Nurse"), ("tag", "hello kitty")], None);
        assert_eq!(hits.iter().map(|h| h.field.as_str()).collect::<Vec<_>>(), ["phrase", "tag"]);
        assert_eq!(verdict_of(&hits), Verdict::Red);
    }

    #[test]
    fn product_types_map_to_nice_classes() {
        assert_eq!(nice_class("t-shirt"), Some(25));
        assert_eq!(nice_class("Mug"), Some(21));
        assert_eq!(nice_class("sticker"), Some(16));
        assert_eq!(nice_class("tote bag"), Some(18));
        assert_eq!(nice_class("phone case"), Some(9));
        assert_eq!(nice_class("spaceship"), None);
    }
}

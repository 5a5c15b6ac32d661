//! TrendSource: a configured place trends are read from (a feed, a list, a
//! rendered page). Each refresh is recorded with its audit, so operators
//! see what every source delivered, what failed and what blocked us.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_enum;
use crate::codec::EventCodec;

/// The audit of one refresh of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceRefreshed {
    pub source: String,
    pub at: DateTime<Utc>,
    /// The step of the fallback chain that delivered (none: nothing did).
    pub used: Option<String>,
    pub collected: u64,
    pub persisted: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub blocked: u64,
    /// The circuit breaker after this refresh: `closed`, `open`, `half_open`.
    pub breaker: String,
    pub errors: Vec<String>,
}

event_enum! {
    /// Events of the TrendSource aggregate.
    pub enum SourceEvent {
        SourceRefreshed(SourceRefreshed) = 1,
    }
}

impl EventCodec for SourceEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SourceCommand {
    RecordRefresh(SourceRefreshed),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SourceError {
    #[error("a refresh needs the source's name")]
    NoName,
    #[error("source {expected:?} cannot record a refresh of {got:?}")]
    OtherSource { expected: String, got: String },
    #[error("refresh refused: {0}")]
    BadText(super::text::FreeTextError),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrendSource {
    pub name: Option<String>,
    pub refreshes: u64,
    pub last_persisted: u64,
}

impl super::StateVersion for TrendSource {
    const STATE_VERSION: u32 = 1;
}

impl Aggregate for TrendSource {
    const TYPE: &'static str = "source";
    type Command = SourceCommand;
    type Event = SourceEvent;
    type Error = SourceError;
    type Services = ();

    async fn handle(&mut self, command: SourceCommand, _: &(), sink: &EventSink<Self>) -> Result<(), SourceError> {
        let SourceCommand::RecordRefresh(e) = command;
        if e.source.trim().is_empty() {
            return Err(SourceError::NoName);
        }
        super::text::SourceName::parse(&e.source).map_err(SourceError::BadText)?;
        for text in e.errors.iter().chain(e.used.as_ref()) {
            super::text::Note::parse(text).map_err(SourceError::BadText)?;
        }
        if let Some(name) = &self.name
            && *name != e.source
        {
            return Err(SourceError::OtherSource { expected: name.clone(), got: e.source });
        }
        sink.write(SourceEvent::SourceRefreshed(e), self).await;
        Ok(())
    }

    fn apply(&mut self, event: SourceEvent) {
        let SourceEvent::SourceRefreshed(e) = event;
        self.name = Some(e.source);
        self.refreshes += 1;
        self.last_persisted = e.persisted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn refreshed(source: &str) -> SourceRefreshed {
        SourceRefreshed {
            source: source.into(),
            at: DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc(),
            used: Some("fetch http://x/rss".into()),
            collected: 3,
            persisted: 3,
            duplicates: 0,
            failed: 0,
            blocked: 1,
            breaker: "closed".into(),
            errors: vec!["blocked: GET http://x/page: HTTP 429".into()],
        }
    }

    #[test]
    fn a_refresh_is_recorded_as_audited() {
        TestFramework::<TrendSource>::with(())
            .given_no_previous_events()
            .when(SourceCommand::RecordRefresh(refreshed("rss")))
            .then_expect_events(vec![SourceEvent::SourceRefreshed(refreshed("rss"))]);
    }

    #[test]
    fn a_refresh_is_refused_for_another_source_or_without_a_name() {
        let cases: [(Vec<SourceEvent>, &str, SourceError); 2] = [
            (
                vec![SourceEvent::SourceRefreshed(refreshed("rss"))],
                "movers",
                SourceError::OtherSource { expected: "rss".into(), got: "movers".into() },
            ),
            (vec![], " ", SourceError::NoName),
        ];
        for (given, source, error) in cases {
            TestFramework::<TrendSource>::with(())
                .given(given)
                .when(SourceCommand::RecordRefresh(refreshed(source)))
                .then_expect_error(error);
        }
    }

    #[test]
    fn an_audit_holding_text_no_layer_can_store_is_refused() {
        let mut e = refreshed("rss");
        e.errors.push("page said \u{0}".into());
        TestFramework::<TrendSource>::with(())
            .given_no_previous_events()
            .when(SourceCommand::RecordRefresh(e))
            .then_expect_error(SourceError::BadText(crate::domain::text::FreeTextError::Control {
                field: "note",
                code: 0,
                at: 11,
            }));
    }
}

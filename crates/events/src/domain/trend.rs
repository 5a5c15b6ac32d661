//! Trend: a keyword people are searching or buying around, observed over
//! time from several sources. Keyed deterministically by tenant and
//! normalised keyword, so every source's observation lands on one Trend.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Actor, event_enum};
use crate::codec::{CodecError, EventCodec};

/// Where and when a measurement came from, and how far to trust it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// Source name from configuration, e.g. `google-trends-rss`.
    pub source: String,
    pub observed_at: DateTime<Utc>,
    /// Rank on the source's list, 1 = top.
    pub rank: Option<u32>,
    /// Search or sales volume where the source gives one.
    pub volume: Option<u64>,
    /// Interest score, 0–100.
    pub score: f64,
    /// True when the figures are estimated rather than measured.
    pub estimated: bool,
    /// 0–1.
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrendObserved {
    /// The keyword as the source wrote it.
    pub keyword: String,
    /// Lower-cased, trimmed, single-spaced: the Trend's natural key.
    pub normalized: String,
    /// Niche in the taxonomy (holidays, pets, professions, …).
    pub niche: String,
    /// Product types this trend suits (t-shirt, mug, sticker, …).
    pub product_types: Vec<String>,
    pub observation: Observation,
}

/// The ideation stage turned this trend into ideas (recorded once, after
/// the ideas themselves, so a crash in between regenerates the same ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrendIdeated {
    pub ideas: u32,
    /// `offline` or `openai`.
    pub provider: String,
    /// What the provider call cost, in millionths of a US dollar.
    pub cost_micros: u64,
    /// 0 for the automatic first round; n for the n-th `TrendIdeasRequested`.
    #[serde(default)]
    pub round: u32,
}

/// Most ideas one request may ask for.
pub const MAX_IDEAS_PER_REQUEST: u32 = 6;

/// Someone asked for more ideas from this trend: round `round` (1, 2, …),
/// `count` ideas, optionally in place of one idea they did not like (which
/// the ideation stage then rejects, once its replacement exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrendIdeasRequested {
    pub round: u32,
    pub count: u32,
    pub replacing: Option<uuid::Uuid>,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrendRetired {
    pub reason: String,
}

event_enum! {
    /// Events of the Trend aggregate.
    pub enum TrendEvent {
        /// v1: `{keyword, source, score, observed_at}`; v2 adds the normalised
        /// keyword, niche, product types and full provenance.
        TrendObserved(TrendObserved) = 2,
        TrendRetired(TrendRetired) = 1,
        TrendIdeated(TrendIdeated) = 1,
        TrendIdeasRequested(TrendIdeasRequested) = 1,
    }
}

impl EventCodec for TrendEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;

    fn upcast_step(event_type: &str, from: u32, body: Value) -> Result<Value, CodecError> {
        match (event_type, from) {
            ("TrendObserved", 1) => {
                let keyword = body.get("keyword").and_then(Value::as_str).unwrap_or_default();
                Ok(json!({
                    "keyword": keyword,
                    "normalized": normalize_keyword(keyword),
                    "niche": "uncategorised",
                    "product_types": [],
                    "observation": {
                        "source": body.get("source").cloned().unwrap_or(json!("unknown")),
                        "observed_at": body.get("observed_at").cloned().unwrap_or(Value::Null),
                        "rank": null,
                        "volume": null,
                        "score": body.get("score").cloned().unwrap_or(json!(0.0)),
                        // v1 never said; treat old figures as estimates of middling trust.
                        "estimated": true,
                        "confidence": 0.5,
                    }
                }))
            }
            _ => Err(CodecError::NoUpcaster { event_type: event_type.into(), version: from }),
        }
    }
}

/// Lower-cases, trims and collapses whitespace.
pub fn normalize_keyword(raw: &str) -> String {
    raw.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrendCommand {
    Observe {
        keyword: String,
        niche: String,
        product_types: Vec<String>,
        observation: Observation,
    },
    /// A bulk import of several observations of the same keyword (one atomic commit).
    ObserveMany {
        keyword: String,
        niche: String,
        product_types: Vec<String>,
        observations: Vec<Observation>,
    },
    Retire {
        reason: super::text::RejectReason,
    },
    RecordIdeation(TrendIdeated),
    /// Another round of ideas, whatever the trend's score.
    RequestIdeas {
        count: u32,
        replacing: Option<uuid::Uuid>,
        by: Actor,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrendError {
    #[error("keyword is empty")]
    EmptyKeyword,
    #[error("trend refused: {0}")]
    BadText(super::text::FreeTextError),
    #[error("keyword {got:?} does not match this trend's keyword {expected:?}")]
    KeywordMismatch { expected: String, got: String },
    #[error("score must be within 0–100, got {0}")]
    ScoreOutOfRange(f64),
    #[error("confidence must be within 0–1, got {0}")]
    ConfidenceOutOfRange(f64),
    #[error("trend is retired")]
    Retired,
    #[error("nothing to observe")]
    NoObservations,
    #[error("trend was never observed")]
    Unknown,
    #[error("trend already turned into ideas")]
    AlreadyIdeated,
    #[error("ask for 1–{MAX_IDEAS_PER_REQUEST} ideas, not {0}")]
    BadIdeaCount(u32),
    #[error("round {0} of ideas was never asked for")]
    UnknownRound(u32),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub normalized: Option<String>,
    pub niche: String,
    pub observations: u64,
    pub last_score: f64,
    pub retired: bool,
    #[serde(default)]
    pub ideated: bool,
    /// The keyword as first written by a source.
    #[serde(default)]
    pub keyword: String,
    #[serde(default)]
    pub product_types: Vec<String>,
    /// Rounds of ideas asked for after the first (the last round's number).
    #[serde(default)]
    pub idea_rounds: u32,
    /// Those of them already turned into ideas.
    #[serde(default)]
    pub rounds_ideated: Vec<u32>,
    /// How many ideas each asked-for round wanted (round n at n − 1).
    #[serde(default)]
    pub round_counts: Vec<u32>,
    /// How many ideas the automatic first round made, once it has.
    #[serde(default)]
    pub first_round_ideas: Option<u32>,
}

impl Trend {
    /// How many ideas the rounds before `round` take, so that a round can
    /// start where they stopped (`first_round` stands in for the automatic
    /// round's count while it has not happened).
    pub fn ideas_before(&self, round: u32, first_round: u32) -> u32 {
        if round == 0 {
            return 0;
        }
        let earlier: u32 = self.round_counts.iter().take(round as usize - 1).sum();
        self.first_round_ideas.unwrap_or(first_round) + earlier
    }
}

impl Trend {
    fn check(&self, keyword: &str, obs: &Observation) -> Result<String, TrendError> {
        let normalized = normalize_keyword(keyword);
        if normalized.is_empty() {
            return Err(TrendError::EmptyKeyword);
        }
        super::text::Keyword::parse(keyword).map_err(TrendError::BadText)?;
        super::text::SourceName::parse(&obs.source).map_err(TrendError::BadText)?;
        if let Some(existing) = &self.normalized
            && *existing != normalized
        {
            return Err(TrendError::KeywordMismatch { expected: existing.clone(), got: normalized });
        }
        if self.retired {
            return Err(TrendError::Retired);
        }
        if !(0.0..=100.0).contains(&obs.score) {
            return Err(TrendError::ScoreOutOfRange(obs.score));
        }
        if !(0.0..=1.0).contains(&obs.confidence) {
            return Err(TrendError::ConfidenceOutOfRange(obs.confidence));
        }
        Ok(normalized)
    }
}

impl super::StateVersion for Trend {
    const STATE_VERSION: u32 = 1;
}

impl Aggregate for Trend {
    const TYPE: &'static str = "trend";
    type Command = TrendCommand;
    type Event = TrendEvent;
    type Error = TrendError;
    type Services = ();

    async fn handle(&mut self, command: TrendCommand, _: &(), sink: &EventSink<Self>) -> Result<(), TrendError> {
        match command {
            TrendCommand::Observe { keyword, niche, product_types, observation } => {
                let normalized = self.check(&keyword, &observation)?;
                let event = TrendObserved { keyword, normalized, niche, product_types, observation };
                sink.write(TrendEvent::TrendObserved(event), self).await;
            }
            TrendCommand::ObserveMany { keyword, niche, product_types, observations } => {
                if observations.is_empty() {
                    return Err(TrendError::NoObservations);
                }
                let mut events = Vec::with_capacity(observations.len());
                for observation in observations {
                    let normalized = self.check(&keyword, &observation)?;
                    events.push(TrendEvent::TrendObserved(TrendObserved {
                        keyword: keyword.clone(),
                        normalized,
                        niche: niche.clone(),
                        product_types: product_types.clone(),
                        observation,
                    }));
                }
                for e in events {
                    sink.write(e, self).await;
                }
            }
            TrendCommand::Retire { reason } => {
                if self.normalized.is_none() {
                    return Err(TrendError::Unknown);
                }
                if self.retired {
                    return Err(TrendError::Retired);
                }
                sink.write(TrendEvent::TrendRetired(TrendRetired { reason: reason.into_string() }), self).await;
            }
            TrendCommand::RecordIdeation(e) => {
                if self.normalized.is_none() {
                    return Err(TrendError::Unknown);
                }
                let done = if e.round == 0 { self.ideated } else { self.rounds_ideated.contains(&e.round) };
                if done {
                    return Err(TrendError::AlreadyIdeated);
                }
                if e.round > self.idea_rounds {
                    return Err(TrendError::UnknownRound(e.round));
                }
                sink.write(TrendEvent::TrendIdeated(e), self).await;
            }
            TrendCommand::RequestIdeas { count, replacing, by } => {
                if self.normalized.is_none() {
                    return Err(TrendError::Unknown);
                }
                if self.retired {
                    return Err(TrendError::Retired);
                }
                if count == 0 || count > MAX_IDEAS_PER_REQUEST {
                    return Err(TrendError::BadIdeaCount(count));
                }
                let round = self.idea_rounds + 1;
                sink.write(TrendEvent::TrendIdeasRequested(TrendIdeasRequested { round, count, replacing, by }), self)
                    .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: TrendEvent) {
        match event {
            TrendEvent::TrendObserved(e) => {
                if self.normalized.is_none() {
                    self.keyword = e.keyword;
                }
                self.normalized = Some(e.normalized);
                self.niche = e.niche;
                self.product_types = e.product_types;
                self.observations += 1;
                self.last_score = e.observation.score;
            }
            TrendEvent::TrendRetired(_) => self.retired = true,
            TrendEvent::TrendIdeated(e) if e.round == 0 => {
                self.ideated = true;
                self.first_round_ideas = Some(e.ideas);
            }
            TrendEvent::TrendIdeated(e) => self.rounds_ideated.push(e.round),
            TrendEvent::TrendIdeasRequested(e) => {
                self.idea_rounds = e.round;
                self.round_counts.push(e.count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn obs(score: f64) -> Observation {
        Observation {
            source: "fixture".into(),
            observed_at: DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().to_utc(),
            rank: Some(3),
            volume: None,
            score,
            estimated: false,
            confidence: 0.9,
        }
    }
    fn observed(keyword: &str, score: f64) -> TrendEvent {
        TrendEvent::TrendObserved(TrendObserved {
            keyword: keyword.into(),
            normalized: normalize_keyword(keyword),
            niche: "pets".into(),
            product_types: vec!["t-shirt".into()],
            observation: obs(score),
        })
    }
    fn observe(keyword: &str, score: f64) -> TrendCommand {
        TrendCommand::Observe {
            keyword: keyword.into(),
            niche: "pets".into(),
            product_types: vec!["t-shirt".into()],
            observation: obs(score),
        }
    }
    type T = TestFramework<Trend>;

    #[test]
    fn a_first_observation_creates_the_trend() {
        T::with(()).given_no_previous_events().when(observe("  Cat   MOM ", 70.0)).then_expect_events(vec![
            TrendEvent::TrendObserved(TrendObserved {
                keyword: "  Cat   MOM ".into(),
                normalized: "cat mom".into(),
                niche: "pets".into(),
                product_types: vec!["t-shirt".into()],
                observation: obs(70.0),
            }),
        ]);
    }

    #[test]
    fn an_observation_out_of_range_or_with_text_no_layer_can_take_is_refused() {
        use crate::domain::text::FreeTextError;
        let mut bad_source = observe("cat mom", 50.0);
        if let TrendCommand::Observe { observation, .. } = &mut bad_source {
            observation.source = "feed\u{202E}".into();
        }
        let cases: [(TrendCommand, TrendError); 4] = [
            (observe("cat mom", 101.0), TrendError::ScoreOutOfRange(101.0)),
            (observe("   ", 1.0), TrendError::EmptyKeyword),
            (
                observe("cat\u{0}mom", 50.0),
                TrendError::BadText(FreeTextError::Control { field: "keyword", code: 0, at: 4 }),
            ),
            (bad_source, TrendError::BadText(FreeTextError::Bidi { field: "source", code: 0x202E, at: 5 })),
        ];
        for (command, error) in cases {
            T::with(()).given_no_previous_events().when(command).then_expect_error(error);
        }
    }

    #[test]
    fn another_keyword_cannot_land_on_this_trend() {
        T::with(())
            .given(vec![observed("cat mom", 1.0)])
            .when(observe("dog dad", 1.0))
            .then_expect_error(TrendError::KeywordMismatch { expected: "cat mom".into(), got: "dog dad".into() });
    }

    #[test]
    fn a_retired_trend_takes_no_more_observations() {
        T::with(())
            .given(vec![observed("cat mom", 1.0), TrendEvent::TrendRetired(TrendRetired { reason: "stale".into() })])
            .when(observe("cat mom", 5.0))
            .then_expect_error(TrendError::Retired);
    }

    #[test]
    fn a_trend_is_retired_with_its_reason() {
        let reason = super::super::text::RejectReason::parse("out of season").unwrap();
        T::with(())
            .given(vec![observed("cat mom", 1.0)])
            .when(TrendCommand::Retire { reason })
            .then_expect_events(vec![TrendEvent::TrendRetired(TrendRetired { reason: "out of season".into() })]);
    }

    #[test]
    fn a_retirement_is_refused_for_a_trend_that_is_not_there_or_already_retired() {
        let retired = TrendEvent::TrendRetired(TrendRetired { reason: "stale".into() });
        let cases: [(Vec<TrendEvent>, TrendError); 2] =
            [(vec![], TrendError::Unknown), (vec![observed("cat mom", 1.0), retired], TrendError::Retired)];
        for (given, error) in cases {
            let reason = super::super::text::RejectReason::parse("again").unwrap();
            T::with(()).given(given).when(TrendCommand::Retire { reason }).then_expect_error(error);
        }
    }

    #[test]
    fn bulk_observations_are_all_or_nothing() {
        let cmd = TrendCommand::ObserveMany {
            keyword: "cat mom".into(),
            niche: "pets".into(),
            product_types: vec!["t-shirt".into()],
            observations: vec![obs(1.0), obs(200.0)],
        };
        T::with(()).given_no_previous_events().when(cmd).then_expect_error(TrendError::ScoreOutOfRange(200.0));
    }

    fn ideated() -> TrendIdeated {
        TrendIdeated { ideas: 3, provider: "offline".into(), cost_micros: 0, round: 0 }
    }

    #[test]
    fn a_trends_ideation_is_recorded() {
        T::with(())
            .given(vec![observed("cat mom", 80.0)])
            .when(TrendCommand::RecordIdeation(ideated()))
            .then_expect_events(vec![TrendEvent::TrendIdeated(ideated())]);
    }

    #[test]
    fn an_ideation_is_refused_for_a_trend_that_is_not_there_or_already_ideated() {
        let cases: [(Vec<TrendEvent>, TrendError); 2] = [
            (vec![], TrendError::Unknown),
            (vec![observed("cat mom", 80.0), TrendEvent::TrendIdeated(ideated())], TrendError::AlreadyIdeated),
        ];
        for (given, error) in cases {
            T::with(()).given(given).when(TrendCommand::RecordIdeation(ideated())).then_expect_error(error);
        }
    }

    fn asker() -> Actor {
        Actor::User { user_id: uuid::Uuid::nil() }
    }

    fn ask(count: u32) -> TrendCommand {
        TrendCommand::RequestIdeas { count, replacing: None, by: asker() }
    }

    fn first_round() -> TrendEvent {
        TrendEvent::TrendIdeasRequested(TrendIdeasRequested { round: 1, count: 2, replacing: None, by: asker() })
    }

    fn round_done(round: u32) -> TrendIdeated {
        TrendIdeated { ideas: 2, provider: "offline".into(), cost_micros: 0, round }
    }

    #[test]
    fn more_ideas_are_refused_for_an_unknown_or_retired_trend_or_a_count_out_of_range() {
        let retired = TrendEvent::TrendRetired(TrendRetired { reason: "old".into() });
        let cases: [(Vec<TrendEvent>, u32, TrendError); 4] = [
            (vec![], 1, TrendError::Unknown),
            (vec![observed("cat mom", 10.0)], 0, TrendError::BadIdeaCount(0)),
            (vec![observed("cat mom", 10.0)], 7, TrendError::BadIdeaCount(7)),
            (vec![observed("cat mom", 10.0), retired], 1, TrendError::Retired),
        ];
        for (given, count, error) in cases {
            T::with(()).given(given).when(ask(count)).then_expect_error(error);
        }
    }

    #[test]
    fn a_low_scoring_trend_can_still_be_asked_for_a_first_round() {
        // Never ideated automatically, it is round 1 when a person asks.
        T::with(()).given(vec![observed("cat mom", 10.0)]).when(ask(2)).then_expect_events(vec![first_round()]);
    }

    #[test]
    fn the_next_round_is_numbered_after_the_last_and_names_the_idea_it_replaces() {
        let replacing = Some(uuid::Uuid::from_u128(7));
        T::with(())
            .given(vec![observed("cat mom", 10.0), first_round()])
            .when(TrendCommand::RequestIdeas { count: 1, replacing, by: asker() })
            .then_expect_events(vec![TrendEvent::TrendIdeasRequested(TrendIdeasRequested {
                round: 2,
                count: 1,
                replacing,
                by: asker(),
            })]);
    }

    #[test]
    fn a_round_nobody_asked_for_is_refused() {
        T::with(())
            .given(vec![observed("cat mom", 10.0)])
            .when(TrendCommand::RecordIdeation(round_done(1)))
            .then_expect_error(TrendError::UnknownRound(1));
    }

    #[test]
    fn a_round_asked_for_is_recorded() {
        T::with(())
            .given(vec![observed("cat mom", 10.0), first_round()])
            .when(TrendCommand::RecordIdeation(round_done(1)))
            .then_expect_events(vec![TrendEvent::TrendIdeated(round_done(1))]);
    }

    #[test]
    fn a_round_is_recorded_once() {
        let done = vec![observed("cat mom", 10.0), first_round(), TrendEvent::TrendIdeated(round_done(1))];
        T::with(())
            .given(done)
            .when(TrendCommand::RecordIdeation(round_done(1)))
            .then_expect_error(TrendError::AlreadyIdeated);
    }

    #[test]
    fn the_automatic_round_stays_open_after_a_requested_one() {
        let done = vec![observed("cat mom", 10.0), first_round(), TrendEvent::TrendIdeated(round_done(1))];
        T::with(())
            .given(done)
            .when(TrendCommand::RecordIdeation(round_done(0)))
            .then_expect_events(vec![TrendEvent::TrendIdeated(round_done(0))]);
    }

    #[test]
    fn v1_observations_upcast_to_v2() {
        let v1 =
            json!({"keyword": "Cat Mom", "source": "legacy", "score": 42.0, "observed_at": "2024-01-01T00:00:00Z"});
        let TrendEvent::TrendObserved(e) = TrendEvent::decode("TrendObserved", 1, v1).unwrap() else { panic!() };
        assert_eq!(e.normalized, "cat mom");
        assert_eq!(e.observation.source, "legacy");
        assert_eq!(e.observation.score, 42.0);
        assert!(e.observation.estimated);
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let e = observed("cat mom", 3.0);
        let (t, v, body) = e.encode().unwrap();
        assert_eq!((t.as_str(), v), ("TrendObserved", 2));
        assert_eq!(TrendEvent::decode(&t, v, body).unwrap(), e);
        assert!(matches!(TrendEvent::decode("TrendObserved", 3, json!({})), Err(CodecError::FromTheFuture { .. })));
        assert!(matches!(TrendEvent::decode("Nope", 1, json!({})), Err(CodecError::UnknownType(_))));
    }
}

//! Idea: a product idea (phrase, niche, product type, style, audience, tags)
//! generated from a Trend, screened for trademark and policy risk, then
//! approved or rejected. Red ideas stop; amber ideas wait for a person.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::text::{FreeTextError, Phrase, RejectReason};
use super::{Actor, event_enum};
use crate::codec::EventCodec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdeaGenerated {
    pub trend_id: Uuid,
    pub phrase: String,
    pub niche: String,
    pub product_type: String,
    pub style: String,
    pub audience: String,
    pub tags: Vec<String>,
    /// `offline` or `openai`.
    pub provider: String,
    pub model: Option<String>,
    /// What the provider call cost, in millionths of a US dollar.
    pub cost_micros: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Green,
    Amber,
    Red,
}

impl Verdict {
    /// The verdict of a set of hits: red if any is red, amber if any is
    /// amber, green when there are none.
    pub fn worst(severities: impl IntoIterator<Item = Verdict>) -> Verdict {
        severities.into_iter().fold(Verdict::Green, |acc, s| match (acc, s) {
            (Verdict::Red, _) | (_, Verdict::Red) => Verdict::Red,
            (Verdict::Amber, _) | (_, Verdict::Amber) => Verdict::Amber,
            _ => Verdict::Green,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Green => "green",
            Verdict::Amber => "amber",
            Verdict::Red => "red",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScreeningHit {
    /// The protected term or policy phrase that matched.
    pub term: String,
    /// `exact`, `phrase` or `fuzzy`.
    pub match_kind: String,
    /// The text in the idea that matched it.
    pub matched: String,
    /// Which field: `phrase`, `tag`, `title`, `description`.
    pub field: String,
    /// The index entry's origin, e.g. `curated:brands` or `uspto:<serial>`.
    pub source: String,
    pub severity: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdeaScreened {
    pub verdict: Verdict,
    pub hits: Vec<ScreeningHit>,
    /// Version of the screening index used, so results can be re-checked.
    pub index_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdeaApproved {
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdeaRejected {
    pub by: Actor,
    pub reason: String,
}

event_enum! {
    /// Events of the Idea aggregate.
    pub enum IdeaEvent {
        IdeaGenerated(IdeaGenerated) = 1,
        IdeaScreened(IdeaScreened) = 1,
        IdeaApproved(IdeaApproved) = 1,
        IdeaRejected(IdeaRejected) = 1,
    }
}

impl EventCodec for IdeaEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

/// A generated idea whose every text meets its rules (a `Phrase` each):
/// what `IdeaCommand::Generate` takes. Providers' words are checked here,
/// once, by whoever turns them into a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "IdeaGenerated")]
pub struct Generation(IdeaGenerated);

impl Generation {
    pub fn parse(idea: IdeaGenerated) -> Result<Self, IdeaError> {
        check_content(&idea).map_err(IdeaError::BadText)?;
        Ok(Self(idea))
    }
    pub fn get(&self) -> &IdeaGenerated {
        &self.0
    }
}

impl TryFrom<IdeaGenerated> for Generation {
    type Error = IdeaError;
    fn try_from(idea: IdeaGenerated) -> Result<Self, IdeaError> {
        Self::parse(idea)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IdeaCommand {
    Generate(Generation),
    RecordScreening(IdeaScreened),
    Approve { by: Actor },
    Reject { by: Actor, reason: RejectReason },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdeaError {
    #[error("idea already generated")]
    AlreadyGenerated,
    #[error("idea does not exist")]
    Unknown,
    #[error("idea refused: {0}")]
    BadText(FreeTextError),
    #[error("idea has not been screened yet")]
    NotScreened,
    #[error("idea screened red: it cannot be approved")]
    ScreenedRed,
    #[error("idea screened amber: only a person can approve it")]
    NeedsPerson,
    #[error("idea already decided ({0})")]
    AlreadyDecided(&'static str),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdeaStatus {
    #[default]
    New,
    Generated,
    Screened(Verdict),
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Idea {
    pub status: IdeaStatus,
    pub trend_id: Option<Uuid>,
    /// What was generated: the phrase and the rest, for the stages after screening.
    #[serde(default)]
    pub content: Option<Box<IdeaGenerated>>,
}

impl super::StateVersion for Idea {
    const STATE_VERSION: u32 = 1;
}

impl Aggregate for Idea {
    const TYPE: &'static str = "idea";
    type Command = IdeaCommand;
    type Event = IdeaEvent;
    type Error = IdeaError;
    type Services = ();

    async fn handle(&mut self, command: IdeaCommand, _: &(), sink: &EventSink<Self>) -> Result<(), IdeaError> {
        use IdeaStatus as S;
        let decided = |s: IdeaStatus| match s {
            S::Approved => Some("approved"),
            S::Rejected => Some("rejected"),
            _ => None,
        };
        match command {
            IdeaCommand::Generate(Generation(e)) => {
                if self.status != S::New {
                    return Err(IdeaError::AlreadyGenerated);
                }
                sink.write(IdeaEvent::IdeaGenerated(e), self).await;
            }
            IdeaCommand::RecordScreening(e) => {
                if self.status == S::New {
                    return Err(IdeaError::Unknown);
                }
                if let Some(d) = decided(self.status) {
                    return Err(IdeaError::AlreadyDecided(d));
                }
                sink.write(IdeaEvent::IdeaScreened(e), self).await;
            }
            IdeaCommand::Approve { by } => {
                match self.status {
                    S::New => return Err(IdeaError::Unknown),
                    S::Generated => return Err(IdeaError::NotScreened),
                    S::Screened(Verdict::Red) => return Err(IdeaError::ScreenedRed),
                    S::Screened(Verdict::Amber) if !by.is_person() => return Err(IdeaError::NeedsPerson),
                    s => {
                        if let Some(d) = decided(s) {
                            return Err(IdeaError::AlreadyDecided(d));
                        }
                    }
                }
                sink.write(IdeaEvent::IdeaApproved(IdeaApproved { by }), self).await;
            }
            IdeaCommand::Reject { by, reason } => {
                if self.status == S::New {
                    return Err(IdeaError::Unknown);
                }
                if let Some(d) = decided(self.status) {
                    return Err(IdeaError::AlreadyDecided(d));
                }
                let reason = reason.into_string();
                sink.write(IdeaEvent::IdeaRejected(IdeaRejected { by, reason }), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: IdeaEvent) {
        match event {
            IdeaEvent::IdeaGenerated(e) => {
                self.status = IdeaStatus::Generated;
                self.trend_id = Some(e.trend_id);
                self.content = Some(Box::new(e));
            }
            IdeaEvent::IdeaScreened(e) => self.status = IdeaStatus::Screened(e.verdict),
            IdeaEvent::IdeaApproved(_) => self.status = IdeaStatus::Approved,
            IdeaEvent::IdeaRejected(_) => self.status = IdeaStatus::Rejected,
        }
    }
}

/// Every text of a generated idea is text the rest of the pipeline can take,
/// whichever provider wrote it.
fn check_content(e: &IdeaGenerated) -> Result<(), FreeTextError> {
    Phrase::parse(&e.phrase)?;
    for (field, text) in
        [("niche", &e.niche), ("product_type", &e.product_type), ("style", &e.style), ("audience", &e.audience)]
    {
        Phrase::parse_as(field, text)?;
    }
    for tag in &e.tags {
        Phrase::parse_as("tag", tag)?;
    }
    if let Some(model) = &e.model {
        Phrase::parse_as("model", model)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type T = TestFramework<Idea>;

    fn generate() -> IdeaCommand {
        IdeaCommand::Generate(Generation::parse(generated()).unwrap())
    }

    fn generated() -> IdeaGenerated {
        IdeaGenerated {
            trend_id: Uuid::nil(),
            phrase: "Crazy Cat Mom Club".into(),
            niche: "pets".into(),
            product_type: "t-shirt".into(),
            style: "retro".into(),
            audience: "cat owners".into(),
            tags: vec!["cat mom".into()],
            provider: "offline".into(),
            model: None,
            cost_micros: 0,
        }
    }
    fn screened(v: Verdict) -> IdeaEvent {
        IdeaEvent::IdeaScreened(IdeaScreened { verdict: v, hits: vec![], index_version: "test".into() })
    }
    fn person() -> Actor {
        Actor::User { user_id: Uuid::nil() }
    }
    fn policy() -> Actor {
        Actor::Policy { name: "auto-green".into() }
    }

    fn given_screened(v: Verdict) -> Vec<IdeaEvent> {
        vec![IdeaEvent::IdeaGenerated(generated()), screened(v)]
    }
    fn rejected() -> IdeaEvent {
        IdeaEvent::IdeaRejected(IdeaRejected { by: person(), reason: "meh".into() })
    }

    #[test]
    fn a_generated_idea_is_recorded_as_it_was_generated() {
        T::with(())
            .given_no_previous_events()
            .when(generate())
            .then_expect_events(vec![IdeaEvent::IdeaGenerated(generated())]);
    }

    #[test]
    fn generating_twice_is_refused() {
        T::with(())
            .given(vec![IdeaEvent::IdeaGenerated(generated())])
            .when(generate())
            .then_expect_error(IdeaError::AlreadyGenerated);
    }

    #[test]
    fn an_idea_with_text_the_pipeline_cannot_take_is_not_a_generation() {
        type Change = fn(&mut IdeaGenerated);
        let cases: [(Change, FreeTextError); 4] = [
            (|e| e.phrase = "  ".into(), FreeTextError::Empty { field: "phrase" }),
            (|e| e.phrase = "x".repeat(201), FreeTextError::TooLong { field: "phrase", chars: 201, max: 200 }),
            (|e| e.audience = "cat\u{0}owners".into(), FreeTextError::Control { field: "audience", code: 0, at: 4 }),
            (|e| e.tags = vec!["a\u{202E}b".into()], FreeTextError::Bidi { field: "tag", code: 0x202E, at: 2 }),
        ];
        for (change, error) in cases {
            let mut e = generated();
            change(&mut e);
            assert_eq!(Generation::parse(e.clone()), Err(IdeaError::BadText(error.clone())));
            let sent = serde_json::to_value(IdeaCommand::Generate(Generation(e))).unwrap();
            assert!(serde_json::from_value::<IdeaCommand>(sent).is_err(), "nor does one decode: {error}");
        }
    }

    #[test]
    fn a_screening_is_recorded_with_its_verdict_and_hits() {
        let screening = IdeaScreened { verdict: Verdict::Amber, hits: vec![], index_version: "test".into() };
        T::with(())
            .given(vec![IdeaEvent::IdeaGenerated(generated())])
            .when(IdeaCommand::RecordScreening(screening))
            .then_expect_events(vec![screened(Verdict::Amber)]);
    }

    #[test]
    fn a_screening_is_refused_for_an_idea_that_is_not_there_or_already_decided() {
        let screening = || IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "test".into() };
        let cases: [(Vec<IdeaEvent>, IdeaError); 3] = [
            (vec![], IdeaError::Unknown),
            (
                [given_screened(Verdict::Green), vec![IdeaEvent::IdeaApproved(IdeaApproved { by: policy() })]].concat(),
                IdeaError::AlreadyDecided("approved"),
            ),
            ([given_screened(Verdict::Amber), vec![rejected()]].concat(), IdeaError::AlreadyDecided("rejected")),
        ];
        for (given, error) in cases {
            T::with(()).given(given).when(IdeaCommand::RecordScreening(screening())).then_expect_error(error);
        }
    }

    #[test]
    fn approval_needs_a_screened_undecided_idea_whose_verdict_allows_the_approver() {
        let cases: [(Vec<IdeaEvent>, Actor, IdeaError); 5] = [
            (vec![], person(), IdeaError::Unknown),
            (vec![IdeaEvent::IdeaGenerated(generated())], person(), IdeaError::NotScreened),
            (given_screened(Verdict::Red), person(), IdeaError::ScreenedRed),
            (given_screened(Verdict::Amber), policy(), IdeaError::NeedsPerson),
            (
                [given_screened(Verdict::Green), vec![rejected()]].concat(),
                person(),
                IdeaError::AlreadyDecided("rejected"),
            ),
        ];
        for (given, by, error) in cases {
            T::with(()).given(given).when(IdeaCommand::Approve { by }).then_expect_error(error);
        }
    }

    #[test]
    fn a_person_approves_an_amber_idea() {
        T::with(())
            .given(given_screened(Verdict::Amber))
            .when(IdeaCommand::Approve { by: person() })
            .then_expect_events(vec![IdeaEvent::IdeaApproved(IdeaApproved { by: person() })]);
    }

    #[test]
    fn the_policy_approves_a_green_idea() {
        T::with(())
            .given(given_screened(Verdict::Green))
            .when(IdeaCommand::Approve { by: policy() })
            .then_expect_events(vec![IdeaEvent::IdeaApproved(IdeaApproved { by: policy() })]);
    }

    #[test]
    fn a_rejection_records_its_reason() {
        let reason = RejectReason::parse("too close to a brand").unwrap();
        T::with(())
            .given(given_screened(Verdict::Amber))
            .when(IdeaCommand::Reject { by: person(), reason })
            .then_expect_events(vec![IdeaEvent::IdeaRejected(IdeaRejected {
                by: person(),
                reason: "too close to a brand".into(),
            })]);
    }

    #[test]
    fn a_rejection_is_refused_for_an_idea_that_is_not_there_or_already_decided() {
        let reason = || RejectReason::parse("not for us").unwrap();
        let cases: [(Vec<IdeaEvent>, IdeaError); 2] = [
            (vec![], IdeaError::Unknown),
            (
                [given_screened(Verdict::Green), vec![IdeaEvent::IdeaApproved(IdeaApproved { by: policy() })]].concat(),
                IdeaError::AlreadyDecided("approved"),
            ),
        ];
        for (given, error) in cases {
            T::with(())
                .given(given)
                .when(IdeaCommand::Reject { by: person(), reason: reason() })
                .then_expect_error(error);
        }
    }
}

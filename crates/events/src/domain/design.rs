//! Design: a print-ready artwork rendered for an approved Idea, stored as a
//! content-addressed asset (checksum and size travel in the event).

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::text::RejectReason;
use super::{Actor, event_enum};
use crate::codec::EventCodec;

/// A stored file: its key in the blob store is derived from its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Asset {
    pub key: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrintArea {
    pub width: u32,
    pub height: u32,
    pub dpi: u32,
}

impl Default for PrintArea {
    /// A shirt front: 15 × 18 inches at 300 DPI.
    fn default() -> Self {
        Self { width: 4500, height: 5400, dpi: 300 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignRequested {
    pub idea_id: Uuid,
    pub phrase: String,
    pub niche: String,
    pub product_type: String,
    pub layout: String,
    pub palette: String,
    pub print_area: PrintArea,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignRendered {
    pub artwork: Asset,
    pub preview: Asset,
    /// `typographic` or `openai`.
    pub renderer: String,
    pub cost_micros: u64,
    /// The request this render answers: 0 for the design's first request,
    /// n for its n-th regeneration. (Absent in events recorded before it
    /// was kept: those answered the request of their time, read as 0.)
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignFailed {
    pub reason: String,
    pub retryable: bool,
    /// The request that failed (see [`DesignRendered::attempt`]).
    #[serde(default)]
    pub attempt: u32,
}

/// A person (or program) asked for another take: the same phrase and print
/// area in another layout and palette. The designs worker renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignRegenerationRequested {
    pub by: Actor,
    pub layout: String,
    pub palette: String,
    /// 1 for the first regeneration, then 2, …
    pub attempt: u32,
}

/// The layouts a design can be set in (the renderer's vocabulary).
pub const LAYOUTS: &[&str] = &["stacked", "retro", "stamp", "shadow", "classic"];
/// The palettes a design can be printed in.
pub const PALETTES: &[&str] = &["holiday", "pawprint", "uniform", "outdoors", "heart", "punchline", "sunset"];

/// A name a design's look is chosen by: one of a closed list (the
/// renderer's vocabulary), refused otherwise with the names it can be.
macro_rules! style_name {
    ($(#[$m:meta])* $name:ident, $field:literal, $names:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, DesignError> {
                match $names.contains(&raw) {
                    true => Ok(Self(raw.to_owned())),
                    false => Err(DesignError::UnknownStyle {
                        field: $field,
                        value: raw.chars().take(100).collect(),
                        allowed: $names.join(", "),
                    }),
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DesignError;
            fn try_from(raw: String) -> Result<Self, DesignError> {
                Self::parse(&raw)
            }
        }
    };
}

style_name!(
    /// One of [`LAYOUTS`].
    Layout,
    "layout",
    LAYOUTS
);
style_name!(
    /// One of [`PALETTES`].
    Palette,
    "palette",
    PALETTES
);

/// The next name after `current` in `names`, round (the first if unknown).
fn next_of(names: &[&'static str], current: &str) -> &'static str {
    let i = names.iter().position(|n| *n == current).map(|i| i + 1).unwrap_or(0);
    names[i % names.len()]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignApproved {
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignRejected {
    pub by: Actor,
    pub reason: String,
}

event_enum! {
    /// Events of the Design aggregate.
    pub enum DesignEvent {
        DesignRequested(DesignRequested) = 1,
        DesignRendered(DesignRendered) = 1,
        DesignFailed(DesignFailed) = 1,
        DesignApproved(DesignApproved) = 1,
        DesignRejected(DesignRejected) = 1,
        DesignRegenerationRequested(DesignRegenerationRequested) = 1,
    }
}

impl EventCodec for DesignEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DesignCommand {
    Request(DesignRequested),
    RecordRender(DesignRendered),
    RecordFailure(DesignFailed),
    Approve {
        by: Actor,
    },
    Reject {
        by: Actor,
        reason: RejectReason,
    },
    /// Another take in `layout` and `palette` (each: the next one when absent).
    Regenerate {
        by: Actor,
        layout: Option<Layout>,
        palette: Option<Palette>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DesignError {
    #[error("design already requested")]
    AlreadyRequested,
    #[error("design does not exist")]
    Unknown,
    #[error("design already rendered")]
    AlreadyRendered,
    #[error("design has no rendered artwork yet")]
    NotRendered,
    #[error("artwork is {got_w}×{got_h}, the print area needs {want_w}×{want_h}")]
    WrongSize { got_w: u32, got_h: u32, want_w: u32, want_h: u32 },
    #[error("design already decided")]
    AlreadyDecided,
    #[error("the design is still being rendered; wait for it before asking for another")]
    StillRendering,
    #[error("failure refused: {0}")]
    BadReason(super::text::FreeTextError),
    #[error("render of request {attempt} refused: the design now awaits request {current}")]
    Superseded { attempt: u32, current: u32 },
    #[error("{field} {value:?} is not one of {allowed}")]
    UnknownStyle { field: &'static str, value: String, allowed: String },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DesignStatus {
    #[default]
    New,
    Requested,
    Rendered,
    Failed,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub status: DesignStatus,
    pub print_area: Option<PrintArea>,
    pub failures: u32,
    /// What was asked for (idea, phrase, layout, print area).
    #[serde(default)]
    pub request: Option<Box<DesignRequested>>,
    /// The artwork and preview once rendered.
    #[serde(default)]
    pub rendered: Option<Box<DesignRendered>>,
    /// Regenerations asked for so far.
    #[serde(default)]
    pub regenerations: u32,
}

impl Design {
    /// The request the design awaits: 0 for its first, n for its n-th regeneration.
    pub fn current_request(&self) -> u32 {
        self.regenerations
    }

    /// Whether the design is waiting for a render of `attempt` (so a
    /// provider may be paid to make one).
    pub fn awaits(&self, attempt: u32) -> bool {
        matches!(self.status, DesignStatus::Requested | DesignStatus::Failed) && self.regenerations == attempt
    }

    fn check_answers_current_request(&self, attempt: u32) -> Result<(), DesignError> {
        if attempt == self.regenerations {
            Ok(())
        } else {
            Err(DesignError::Superseded { attempt, current: self.regenerations })
        }
    }
}

impl super::StateVersion for Design {
    const STATE_VERSION: u32 = 1;
}

impl Aggregate for Design {
    const TYPE: &'static str = "design";
    type Command = DesignCommand;
    type Event = DesignEvent;
    type Error = DesignError;
    type Services = ();

    async fn handle(&mut self, command: DesignCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DesignError> {
        use DesignStatus as S;
        match command {
            DesignCommand::Request(e) => {
                if self.status != S::New {
                    return Err(DesignError::AlreadyRequested);
                }
                sink.write(DesignEvent::DesignRequested(e), self).await;
            }
            DesignCommand::RecordRender(e) => {
                match self.status {
                    S::New => return Err(DesignError::Unknown),
                    S::Requested | S::Failed => {}
                    _ => return Err(DesignError::AlreadyRendered),
                }
                self.check_answers_current_request(e.attempt)?;
                let area = self.print_area.unwrap_or_default();
                if (e.artwork.width, e.artwork.height) != (area.width, area.height) {
                    return Err(DesignError::WrongSize {
                        got_w: e.artwork.width,
                        got_h: e.artwork.height,
                        want_w: area.width,
                        want_h: area.height,
                    });
                }
                sink.write(DesignEvent::DesignRendered(e), self).await;
            }
            DesignCommand::RecordFailure(e) => {
                match self.status {
                    S::New => return Err(DesignError::Unknown),
                    S::Requested | S::Failed => {}
                    _ => return Err(DesignError::AlreadyRendered),
                }
                self.check_answers_current_request(e.attempt)?;
                super::text::Note::parse(&e.reason).map_err(DesignError::BadReason)?;
                sink.write(DesignEvent::DesignFailed(e), self).await;
            }
            DesignCommand::Approve { by } => {
                match self.status {
                    S::New => return Err(DesignError::Unknown),
                    S::Rendered => {}
                    S::Approved | S::Rejected => return Err(DesignError::AlreadyDecided),
                    _ => return Err(DesignError::NotRendered),
                }
                sink.write(DesignEvent::DesignApproved(DesignApproved { by }), self).await;
            }
            DesignCommand::Regenerate { by, layout, palette } => {
                match self.status {
                    S::New => return Err(DesignError::Unknown),
                    S::Requested => return Err(DesignError::StillRendering),
                    S::Approved => return Err(DesignError::AlreadyDecided),
                    S::Rendered | S::Failed | S::Rejected => {}
                }
                let (current_layout, current_palette) =
                    self.request.as_ref().map(|r| (r.layout.as_str(), r.palette.as_str())).unwrap_or(("", ""));
                let layout = layout.map_or_else(|| next_of(LAYOUTS, current_layout).to_owned(), |l| l.0);
                let palette = palette.map_or_else(|| next_of(PALETTES, current_palette).to_owned(), |p| p.0);
                let attempt = self.regenerations + 1;
                let e = DesignRegenerationRequested { by, layout, palette, attempt };
                sink.write(DesignEvent::DesignRegenerationRequested(e), self).await;
            }
            DesignCommand::Reject { by, reason } => {
                match self.status {
                    S::New => return Err(DesignError::Unknown),
                    S::Approved | S::Rejected => return Err(DesignError::AlreadyDecided),
                    _ => {}
                }
                let reason = reason.into_string();
                sink.write(DesignEvent::DesignRejected(DesignRejected { by, reason }), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: DesignEvent) {
        match event {
            DesignEvent::DesignRequested(e) => {
                self.status = DesignStatus::Requested;
                self.print_area = Some(e.print_area);
                self.request = Some(Box::new(e));
            }
            DesignEvent::DesignRendered(e) => {
                self.status = DesignStatus::Rendered;
                self.rendered = Some(Box::new(e));
            }
            DesignEvent::DesignFailed(_) => {
                self.status = DesignStatus::Failed;
                self.failures += 1;
            }
            DesignEvent::DesignApproved(_) => self.status = DesignStatus::Approved,
            DesignEvent::DesignRejected(_) => self.status = DesignStatus::Rejected,
            DesignEvent::DesignRegenerationRequested(e) => {
                self.status = DesignStatus::Requested;
                self.regenerations = e.attempt;
                if let Some(r) = self.request.as_mut() {
                    r.layout = e.layout;
                    r.palette = e.palette;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type T = TestFramework<Design>;

    fn requested() -> DesignEvent {
        DesignEvent::DesignRequested(DesignRequested {
            idea_id: Uuid::nil(),
            phrase: "Crazy Cat Mom".into(),
            niche: "pets".into(),
            product_type: "t-shirt".into(),
            layout: "stacked".into(),
            palette: "warm".into(),
            print_area: PrintArea::default(),
        })
    }
    fn asset(w: u32, h: u32) -> Asset {
        Asset {
            key: "k".into(),
            sha256: "0".repeat(64),
            bytes: 1,
            width: w,
            height: h,
            content_type: "image/png".into(),
        }
    }
    fn rendered(w: u32, h: u32) -> DesignRendered {
        DesignRendered {
            artwork: asset(w, h),
            preview: asset(600, 720),
            renderer: "typographic".into(),
            cost_micros: 0,
            attempt: 0,
        }
    }
    fn rendered_for(attempt: u32) -> DesignRendered {
        DesignRendered { attempt, ..rendered(4500, 5400) }
    }

    #[test]
    fn a_render_of_a_superseded_request_is_refused() {
        let by = Actor::User { user_id: Uuid::nil() };
        let again = DesignEvent::DesignRegenerationRequested(DesignRegenerationRequested {
            by,
            layout: "stamp".into(),
            palette: "sunset".into(),
            attempt: 1,
        });
        T::with(())
            .given(vec![requested(), DesignEvent::DesignRendered(rendered_for(0)), again])
            .when(DesignCommand::RecordRender(rendered_for(0)))
            .then_expect_error(DesignError::Superseded { attempt: 0, current: 1 });
    }

    #[test]
    fn a_failure_whose_reason_no_layer_can_store_is_refused() {
        let failed = DesignFailed { reason: "provider said \u{1b}[31m".into(), retryable: false, attempt: 0 };
        T::with(()).given(vec![requested()]).when(DesignCommand::RecordFailure(failed)).then_expect_error(
            DesignError::BadReason(crate::domain::text::FreeTextError::Control { field: "note", code: 0x1b, at: 15 }),
        );
    }

    #[test]
    fn a_failure_of_a_superseded_request_is_refused() {
        let failed = DesignFailed { reason: "timeout".into(), retryable: false, attempt: 2 };
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::RecordFailure(failed))
            .then_expect_error(DesignError::Superseded { attempt: 2, current: 0 });
    }

    fn person() -> Actor {
        Actor::User { user_id: Uuid::nil() }
    }

    fn taken_again(layout: &str, palette: &str, attempt: u32) -> DesignEvent {
        DesignEvent::DesignRegenerationRequested(DesignRegenerationRequested {
            by: person(),
            layout: layout.into(),
            palette: palette.into(),
            attempt,
        })
    }

    fn shown() -> DesignEvent {
        DesignEvent::DesignRendered(rendered(4500, 5400))
    }

    #[test]
    fn another_take_without_a_style_is_the_next_layout_and_palette() {
        T::with(())
            .given(vec![requested(), shown()])
            .when(DesignCommand::Regenerate { by: person(), layout: None, palette: None })
            .then_expect_events(vec![taken_again("retro", "holiday", 1)]);
    }

    #[test]
    fn another_take_is_in_the_layout_and_palette_named() {
        let layout = Some(Layout::parse("classic").unwrap());
        let palette = Some(Palette::parse("heart").unwrap());
        T::with(())
            .given(vec![requested(), shown()])
            .when(DesignCommand::Regenerate { by: person(), layout, palette })
            .then_expect_events(vec![taken_again("classic", "heart", 1)]);
    }

    #[test]
    fn a_style_is_one_the_renderer_knows() {
        assert_eq!(
            Layout::parse("comic sans"),
            Err(DesignError::UnknownStyle { field: "layout", value: "comic sans".into(), allowed: LAYOUTS.join(", ") })
        );
        assert_eq!(
            Palette::parse("neon"),
            Err(DesignError::UnknownStyle { field: "palette", value: "neon".into(), allowed: PALETTES.join(", ") })
        );
        for name in LAYOUTS {
            assert_eq!(Layout::parse(name).map(|l| l.as_str().to_owned()), Ok((*name).to_owned()));
        }
        let long = Layout::parse(&"x".repeat(100_000)).unwrap_err();
        assert!(long.to_string().len() < 1_000, "a refusal does not repeat a flood");
        let read: Result<Palette, _> = serde_json::from_str("\"sunset\"");
        assert_eq!(read.map(|p| p.as_str().to_owned()).ok(), Some("sunset".to_owned()));
        assert!(serde_json::from_str::<Palette>("\"neon\"").is_err(), "a command that does not decode is refused");
    }

    #[test]
    fn another_take_waits_for_the_one_rendering() {
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::Regenerate { by: person(), layout: None, palette: None })
            .then_expect_error(DesignError::StillRendering);
    }

    #[test]
    fn another_take_is_rendered_like_a_request() {
        T::with(())
            .given(vec![requested(), shown(), taken_again("stamp", "sunset", 1)])
            .when(DesignCommand::RecordRender(rendered_for(1)))
            .then_expect_events(vec![DesignEvent::DesignRendered(rendered_for(1))]);
    }

    #[test]
    fn each_take_counts_and_moves_on_from_the_last() {
        let second = DesignEvent::DesignRendered(rendered_for(1));
        T::with(())
            .given(vec![requested(), shown(), taken_again("stamp", "sunset", 1), second])
            .when(DesignCommand::Regenerate { by: person(), layout: None, palette: None })
            .then_expect_events(vec![taken_again("shadow", "holiday", 2)]);
    }

    #[test]
    fn artwork_smaller_than_the_print_area_is_refused() {
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::RecordRender(rendered(1024, 1024)))
            .then_expect_error(DesignError::WrongSize { got_w: 1024, got_h: 1024, want_w: 4500, want_h: 5400 });
    }

    #[test]
    fn artwork_that_fills_the_print_area_is_recorded() {
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::RecordRender(rendered(4500, 5400)))
            .then_expect_events(vec![DesignEvent::DesignRendered(rendered(4500, 5400))]);
    }

    #[test]
    fn a_failed_render_can_be_retried() {
        let failed = DesignEvent::DesignFailed(DesignFailed { reason: "timeout".into(), retryable: true, attempt: 0 });
        T::with(())
            .given(vec![requested(), failed])
            .when(DesignCommand::RecordRender(rendered(4500, 5400)))
            .then_expect_events(vec![DesignEvent::DesignRendered(rendered(4500, 5400))]);
    }

    #[test]
    fn a_rendered_design_is_final() {
        T::with(())
            .given(vec![requested(), DesignEvent::DesignRendered(rendered(4500, 5400))])
            .when(DesignCommand::RecordRender(rendered(4500, 5400)))
            .then_expect_error(DesignError::AlreadyRendered);
    }

    #[test]
    fn only_rendered_designs_are_approved() {
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::Approve { by: Actor::System })
            .then_expect_error(DesignError::NotRendered);
    }

    fn request() -> DesignRequested {
        match requested() {
            DesignEvent::DesignRequested(r) => r,
            _ => unreachable!("requested() is a DesignRequested"),
        }
    }

    #[test]
    fn a_design_is_requested_with_its_layout_palette_and_print_area() {
        T::with(())
            .given_no_previous_events()
            .when(DesignCommand::Request(request()))
            .then_expect_events(vec![requested()]);
    }

    #[test]
    fn a_design_is_requested_only_once() {
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::Request(request()))
            .then_expect_error(DesignError::AlreadyRequested);
    }

    #[test]
    fn a_rejection_records_who_and_why() {
        let by = Actor::User { user_id: Uuid::nil() };
        T::with(())
            .given(vec![requested()])
            .when(DesignCommand::Reject { by: by.clone(), reason: RejectReason::parse("off brand").unwrap() })
            .then_expect_events(vec![DesignEvent::DesignRejected(DesignRejected {
                by: by.clone(),
                reason: "off brand".into(),
            })]);
    }

    #[test]
    fn a_rejection_is_refused_for_a_design_that_is_not_there_or_already_decided() {
        let by = Actor::User { user_id: Uuid::nil() };
        let rejected = DesignEvent::DesignRejected(DesignRejected { by: by.clone(), reason: "no".into() });
        let cases: [(Vec<DesignEvent>, DesignError); 2] =
            [(vec![], DesignError::Unknown), (vec![requested(), rejected], DesignError::AlreadyDecided)];
        for (given, error) in cases {
            T::with(())
                .given(given)
                .when(DesignCommand::Reject { by: by.clone(), reason: RejectReason::parse("again").unwrap() })
                .then_expect_error(error);
        }
    }
}

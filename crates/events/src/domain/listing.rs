//! Listing: the marketplace listing composed from an Idea and its Design —
//! title, description, tags, price — revised by people, approved, queued
//! for publishing and finally published to Printify and Etsy.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Actor, event_enum};
use crate::codec::EventCodec;

pub use super::listing_text::{MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS};
use super::listing_text::{SeoCheck, Tags, TextError, Title};
use super::text::Description;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingDrafted {
    pub idea_id: Uuid,
    pub design_id: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub price_cents: u64,
    pub currency: String,
    /// 0–100, from the checks below.
    pub seo_score: u8,
    /// What the score is made of, with advice where points were withheld.
    #[serde(default)]
    pub seo_checks: Vec<super::listing_text::SeoCheck>,
    /// The trademark and policy screening of the title, tags and description.
    #[serde(default)]
    pub screening: Option<super::idea::IdeaScreened>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingRevised {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price_cents: Option<u64>,
    pub seo_score: u8,
    #[serde(default)]
    pub seo_checks: Vec<super::listing_text::SeoCheck>,
    /// The screening of the revised text; a revision of the text must carry one.
    #[serde(default)]
    pub screening: Option<super::idea::IdeaScreened>,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingApproved {
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingSubmitted {
    pub by: Actor,
    /// The connected shop to publish to; none for a dry run without one.
    pub shop_id: Option<Uuid>,
    /// Dry run: go through the motions without creating anything on the marketplace.
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingPublished {
    pub printify_product_id: Option<String>,
    pub etsy_listing_id: Option<String>,
    pub url: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingPublishFailed {
    pub reason: String,
    pub retryable: bool,
}

/// What a marketplace's id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExternalKind {
    /// The Printify product made for the submission.
    PrintifyProduct,
    /// The Etsy listing made for the submission.
    EtsyListing,
}

impl ExternalKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::PrintifyProduct => "Printify product",
            Self::EtsyListing => "Etsy listing",
        }
    }
}

/// The longest external id kept (marketplaces' ids are far shorter).
pub const MAX_EXTERNAL_ID: usize = 100;

/// An id a marketplace gave the submission being published, recorded the
/// moment it is known: a retry (after a crash, a redelivery) then carries
/// on with what was made instead of making it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingExternalIdRecorded {
    pub shop_id: Uuid,
    pub kind: ExternalKind,
    pub id: String,
}

/// The marketplace is about to be asked to make the submission's product:
/// from here on a retry looks for a product already made before making one
/// (a crash may have come between the making and its recording).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingProductStarted {
    pub shop_id: Uuid,
    /// When (events from before it was kept have none): a search for what
    /// was made looks at what the marketplace made from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
}

/// The marketplace was asked to publish the submission's product; it
/// publishes afterwards, on its own time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingPublishRequested {
    pub shop_id: Uuid,
    pub requested_at: DateTime<Utc>,
}

/// Where a published listing stands on its marketplace, as last polled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarketplaceState {
    /// For sale.
    #[default]
    Active,
    /// Deactivated by the seller.
    Inactive,
    SoldOut,
    /// Not renewed when its four months ran out.
    Expired,
    /// Deleted on the marketplace.
    Removed,
}

impl MarketplaceState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::SoldOut => "sold_out",
            Self::Expired => "expired",
            Self::Removed => "removed",
        }
    }

    /// Etsy's `state` of a listing; a draft or an unknown state is none of these.
    pub fn from_etsy(state: &str) -> Option<Self> {
        match state {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "sold_out" => Some(Self::SoldOut),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A published listing changed on its marketplace since (deactivated, sold
/// out, expired, deleted, or for sale again), as a poll found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingMarketplaceStateChanged {
    pub shop_id: Uuid,
    pub state: MarketplaceState,
}

event_enum! {
    /// Events of the Listing aggregate.
    pub enum ListingEvent {
        ListingDrafted(ListingDrafted) = 1,
        ListingRevised(ListingRevised) = 1,
        ListingApproved(ListingApproved) = 1,
        ListingSubmitted(ListingSubmitted) = 1,
        ListingPublished(ListingPublished) = 1,
        ListingPublishFailed(ListingPublishFailed) = 1,
        ListingExternalIdRecorded(ListingExternalIdRecorded) = 1,
        ListingPublishRequested(ListingPublishRequested) = 1,
        ListingProductStarted(ListingProductStarted) = 1,
        ListingMarketplaceStateChanged(ListingMarketplaceStateChanged) = 1,
    }
}

impl EventCodec for ListingEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

/// A listing as the composer made it, its text parsed: what
/// [`ListingCommand::Draft`] takes. Recorded as a [`ListingDrafted`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub idea_id: Uuid,
    pub design_id: Uuid,
    pub title: Title,
    pub description: Description,
    pub tags: Tags,
    pub price_cents: u64,
    pub currency: String,
    pub seo_score: u8,
    pub seo_checks: Vec<SeoCheck>,
    pub screening: Option<super::idea::IdeaScreened>,
}

impl From<Draft> for ListingDrafted {
    fn from(d: Draft) -> Self {
        ListingDrafted {
            idea_id: d.idea_id,
            design_id: d.design_id,
            title: d.title.into(),
            description: d.description.as_str().to_owned(),
            tags: d.tags.into(),
            price_cents: d.price_cents,
            currency: d.currency,
            seo_score: d.seo_score,
            seo_checks: d.seo_checks,
            screening: d.screening,
        }
    }
}

/// A draft from text in its recorded shape (a seed, an import): each field
/// parsed, the first broken rule refused.
impl TryFrom<ListingDrafted> for Draft {
    type Error = ListingError;
    fn try_from(d: ListingDrafted) -> Result<Self, ListingError> {
        Ok(Draft {
            title: Title::parse(&d.title).map_err(ListingError::BadTitle)?,
            tags: Tags::parse(&d.tags).map_err(ListingError::BadTags)?,
            description: Description::parse(&d.description).map_err(ListingError::BadDescription)?,
            idea_id: d.idea_id,
            design_id: d.design_id,
            price_cents: d.price_cents,
            currency: d.currency,
            seo_score: d.seo_score,
            seo_checks: d.seo_checks,
            screening: d.screening,
        })
    }
}

/// An edit of a listing as a person or a program made it: each field
/// parsed (absent fields stay as they are), with the score and screening
/// of the text that results. What [`ListingCommand::Revise`] takes; it is
/// recorded as a [`ListingRevised`], whose fields are plain text again so
/// that old events still read when a rule tightens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub tags: Option<Tags>,
    pub price_cents: Option<u64>,
    pub seo_score: u8,
    pub seo_checks: Vec<SeoCheck>,
    /// The screening of the revised text; a revision of the text must carry one.
    pub screening: Option<super::idea::IdeaScreened>,
    pub by: Actor,
}

impl Revision {
    /// Whether the text (not just the price) changes.
    pub fn changes_text(&self) -> bool {
        self.title.is_some() || self.description.is_some() || self.tags.is_some()
    }
}

impl From<Revision> for ListingRevised {
    fn from(r: Revision) -> Self {
        ListingRevised {
            title: r.title.map(String::from),
            description: r.description.map(|d| d.as_str().to_owned()),
            tags: r.tags.map(Vec::from),
            price_cents: r.price_cents,
            seo_score: r.seo_score,
            seo_checks: r.seo_checks,
            screening: r.screening,
            by: r.by,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ListingCommand {
    Draft(Draft),
    /// An edit. With `expected_revisions`, it applies only if the listing
    /// has had exactly that many revisions (an edit made on what one saw).
    Revise {
        revision: Revision,
        expected_revisions: Option<u32>,
    },
    Approve {
        by: Actor,
    },
    Submit {
        by: Actor,
        shop_id: Option<Uuid>,
        dry_run: bool,
    },
    // The steps of a submission name it by number: a run of an earlier
    // submission (a redelivery that outlived it) is refused, never taken
    // for the submission queued since.
    /// The submission is published.
    RecordPublished {
        submission: u32,
        published: ListingPublished,
    },
    /// The submission failed: back to its editor.
    RecordPublishFailure {
        submission: u32,
        failed: ListingPublishFailed,
    },
    /// An id the marketplace gave the queued submission; the same id again
    /// changes nothing.
    RecordExternalId {
        submission: u32,
        kind: ExternalKind,
        id: String,
    },
    /// The marketplace is about to make the product; again changes nothing.
    RecordProductStarted {
        submission: u32,
        started_at: DateTime<Utc>,
    },
    /// The marketplace was asked to publish; asking again changes nothing.
    RecordPublishRequest {
        submission: u32,
        requested_at: DateTime<Utc>,
    },
    /// What a poll found of the published listing on its marketplace; the
    /// same state again changes nothing.
    RecordMarketplaceState {
        /// The Etsy listing the poll looked at: a poll of an earlier
        /// publication (the listing published again since) changes nothing.
        etsy_listing_id: String,
        state: MarketplaceState,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ListingError {
    #[error("listing already drafted")]
    AlreadyDrafted,
    #[error("listing does not exist")]
    Unknown,
    #[error("title refused: {0}")]
    BadTitle(TextError),
    #[error("tags refused: {0}")]
    BadTags(TextError),
    #[error("description refused: {0}")]
    BadDescription(super::text::FreeTextError),
    #[error("price must be above zero")]
    BadPrice,
    #[error("the revision changes nothing")]
    EmptyRevision,
    #[error("a revision of the title, tags or description must carry their screening")]
    UnscreenedRevision,
    #[error("the listing has changed since (it is at revision {current}); read it again")]
    Stale { current: u32 },
    #[error("listing is {0} and can no longer be {1}")]
    WrongState(&'static str, &'static str),
    #[error("the listing's text screened red: it cannot be approved")]
    ScreenedRed,
    #[error("the listing's text screened amber: only a person can approve it")]
    NeedsPerson,
    #[error("publishing for real needs a shop; without one, submit a dry run")]
    NoShop,
    #[error("only a submission to a shop has marketplace ids")]
    NotForAShop,
    #[error("{} id {id:?} is empty, too long or not one line", kind.name())]
    BadExternalId { kind: ExternalKind, id: String },
    #[error("the submission already has {} {recorded:?}, not {id:?}", kind.name())]
    ExternalIdConflict { kind: ExternalKind, recorded: String, id: String },
    #[error("submission {given} is over: the listing is queued as submission {current}")]
    OtherSubmission { given: u32, current: u32 },
}

impl ListingError {
    /// The submission a step names is over (settled, or another queued
    /// since): the step's run has nothing left to record.
    pub fn is_submission_over(&self) -> bool {
        matches!(self, Self::WrongState(..) | Self::OtherSubmission { .. })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListingStatus {
    #[default]
    New,
    Draft,
    Approved,
    Queued,
    Published,
}

impl ListingStatus {
    fn name(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Draft => "a draft",
            Self::Approved => "approved",
            Self::Queued => "queued",
            Self::Published => "published",
        }
    }
}

/// What the listing says as it stands: the draft with every revision applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListingContent {
    pub idea_id: Uuid,
    pub design_id: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub price_cents: u64,
    pub currency: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub status: ListingStatus,
    pub revisions: u32,
    /// The verdict of the drafted text's screening, if it was screened.
    #[serde(default)]
    pub verdict: Option<super::idea::Verdict>,
    /// The text and price as they stand, for the stages after approval.
    #[serde(default)]
    pub content: Option<Box<ListingContent>>,
    /// The submission being worked on while queued: where to, and whether
    /// it is a dry run (the latest one: an older submission's event,
    /// redelivered, must not settle this one with its own settings).
    #[serde(default)]
    pub submission: Option<Submission>,
    /// Submissions so far: numbers them.
    #[serde(default)]
    pub submissions: u32,
    /// Where it stands on its marketplace once published, as last polled.
    #[serde(default)]
    pub marketplace_state: MarketplaceState,
    /// The Etsy listing it was last published as, if on Etsy.
    #[serde(default)]
    pub published_etsy_listing_id: Option<String>,
}

/// Where a queued listing goes, and how far publishing it has come.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub shop_id: Option<Uuid>,
    pub dry_run: bool,
    /// 1 for the listing's first submission, 2 for the next, …
    #[serde(default)]
    pub number: u32,
    #[serde(default)]
    pub printify_product_id: Option<String>,
    #[serde(default)]
    pub etsy_listing_id: Option<String>,
    /// When the marketplace was asked to publish, if it was.
    #[serde(default)]
    pub publish_requested_at: Option<DateTime<Utc>>,
    /// A product may have been made (and not recorded): look before making.
    #[serde(default)]
    pub product_started: bool,
    /// When it was started, where known.
    #[serde(default)]
    pub product_started_at: Option<DateTime<Utc>>,
}

impl Submission {
    /// The id of `kind` recorded for this submission.
    pub fn external_id(&self, kind: ExternalKind) -> Option<&str> {
        match kind {
            ExternalKind::PrintifyProduct => self.printify_product_id.as_deref(),
            ExternalKind::EtsyListing => self.etsy_listing_id.as_deref(),
        }
    }
}

impl Listing {
    /// The queued submission numbered `number`, for a step of it.
    fn queued(&self, number: u32, step: &'static str) -> Result<&Submission, ListingError> {
        if self.status != ListingStatus::Queued {
            return Err(ListingError::WrongState(self.status.name(), step));
        }
        match self.submission.as_ref() {
            Some(s) if s.number == number => Ok(s),
            other => Err(ListingError::OtherSubmission { given: number, current: other.map_or(0, |s| s.number) }),
        }
    }

    /// The shop of the queued submission numbered `number`, for a step of
    /// publishing to it.
    fn queued_shop(&self, number: u32, step: &'static str) -> Result<Uuid, ListingError> {
        match self.queued(number, step)? {
            Submission { shop_id: Some(shop), dry_run: false, .. } => Ok(*shop),
            _ => Err(ListingError::NotForAShop),
        }
    }
}

impl super::StateVersion for Listing {
    // 2: submissions are numbered and keep their marketplace ids; 3: when
    // their product was started; 4: the marketplace's state once published.
    const STATE_VERSION: u32 = 4;
}

impl Aggregate for Listing {
    const TYPE: &'static str = "listing";
    type Command = ListingCommand;
    type Event = ListingEvent;
    type Error = ListingError;
    type Services = ();

    async fn handle(&mut self, command: ListingCommand, _: &(), sink: &EventSink<Self>) -> Result<(), ListingError> {
        use ListingStatus as S;
        match command {
            ListingCommand::Draft(e) => {
                if self.status != S::New {
                    return Err(ListingError::AlreadyDrafted);
                }
                // Etsy's text rules hold by the draft's types (`Title`,
                // `Tags`, `Description`), so no event carries a listing Etsy
                // would refuse; the price is this aggregate's rule.
                if e.price_cents == 0 {
                    return Err(ListingError::BadPrice);
                }
                sink.write(ListingEvent::ListingDrafted(e.into()), self).await;
            }
            ListingCommand::Revise { revision: e, expected_revisions } => {
                if let Some(expected) = expected_revisions
                    && self.status != S::New
                    && expected != self.revisions
                {
                    return Err(ListingError::Stale { current: self.revisions });
                }
                match self.status {
                    S::New => return Err(ListingError::Unknown),
                    S::Queued | S::Published => return Err(ListingError::WrongState(self.status.name(), "revised")),
                    _ => {}
                }
                // The text arrives parsed (`Title`, `Tags`, `Description`):
                // what is left to decide are the rules about the listing.
                if !e.changes_text() && e.price_cents.is_none() {
                    return Err(ListingError::EmptyRevision);
                }
                if e.changes_text() && self.verdict.is_some() && e.screening.is_none() {
                    return Err(ListingError::UnscreenedRevision);
                }
                if e.price_cents == Some(0) {
                    return Err(ListingError::BadPrice);
                }
                sink.write(ListingEvent::ListingRevised(e.into()), self).await;
            }
            ListingCommand::Approve { by } => {
                if self.status != S::Draft {
                    return Err(match self.status {
                        S::New => ListingError::Unknown,
                        s => ListingError::WrongState(s.name(), "approved"),
                    });
                }
                match self.verdict {
                    Some(super::idea::Verdict::Red) => return Err(ListingError::ScreenedRed),
                    Some(super::idea::Verdict::Amber) if !by.is_person() => return Err(ListingError::NeedsPerson),
                    _ => {}
                }
                sink.write(ListingEvent::ListingApproved(ListingApproved { by }), self).await;
            }
            ListingCommand::Submit { by, shop_id, dry_run } => {
                if self.status != S::Approved {
                    return Err(match self.status {
                        S::New => ListingError::Unknown,
                        s => ListingError::WrongState(s.name(), "submitted"),
                    });
                }
                if !dry_run && shop_id.is_none() {
                    return Err(ListingError::NoShop);
                }
                sink.write(ListingEvent::ListingSubmitted(ListingSubmitted { by, shop_id, dry_run }), self).await;
            }
            ListingCommand::RecordPublished { submission, published } => {
                self.queued(submission, "published")?;
                sink.write(ListingEvent::ListingPublished(published), self).await;
            }
            ListingCommand::RecordPublishFailure { submission, failed } => {
                self.queued(submission, "failed")?;
                sink.write(ListingEvent::ListingPublishFailed(failed), self).await;
            }
            ListingCommand::RecordExternalId { submission, kind, id } => {
                let shop_id = self.queued_shop(submission, "given a marketplace id")?;
                let usable = !id.is_empty() && id.len() <= MAX_EXTERNAL_ID && !id.chars().any(char::is_control);
                if !usable {
                    return Err(ListingError::BadExternalId { kind, id });
                }
                match self.submission.as_ref().and_then(|s| s.external_id(kind)) {
                    Some(recorded) if recorded == id => {}
                    Some(recorded) => {
                        return Err(ListingError::ExternalIdConflict { kind, recorded: recorded.to_owned(), id });
                    }
                    None => {
                        let e = ListingExternalIdRecorded { shop_id, kind, id };
                        sink.write(ListingEvent::ListingExternalIdRecorded(e), self).await;
                    }
                }
            }
            ListingCommand::RecordProductStarted { submission, started_at } => {
                let shop_id = self.queued_shop(submission, "given a product")?;
                if self.submission.as_ref().is_some_and(|s| !s.product_started) {
                    let e = ListingProductStarted { shop_id, started_at: Some(started_at) };
                    sink.write(ListingEvent::ListingProductStarted(e), self).await;
                }
            }
            ListingCommand::RecordMarketplaceState { etsy_listing_id, state } => {
                if self.status != ListingStatus::Published {
                    return Err(ListingError::WrongState(self.status.name(), "polled on its marketplace"));
                }
                if self.published_etsy_listing_id.as_deref() != Some(etsy_listing_id.as_str()) {
                    return Ok(());
                }
                let shop_id = self.submission.as_ref().and_then(|s| s.shop_id).ok_or(ListingError::NotForAShop)?;
                if state != self.marketplace_state {
                    let e = ListingMarketplaceStateChanged { shop_id, state };
                    sink.write(ListingEvent::ListingMarketplaceStateChanged(e), self).await;
                }
            }
            ListingCommand::RecordPublishRequest { submission, requested_at } => {
                let shop_id = self.queued_shop(submission, "published")?;
                if self.submission.as_ref().is_some_and(|s| s.publish_requested_at.is_none()) {
                    let e = ListingPublishRequested { shop_id, requested_at };
                    sink.write(ListingEvent::ListingPublishRequested(e), self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ListingEvent) {
        match event {
            ListingEvent::ListingDrafted(e) => {
                self.status = ListingStatus::Draft;
                self.verdict = e.screening.map(|s| s.verdict);
                self.content = Some(Box::new(ListingContent {
                    idea_id: e.idea_id,
                    design_id: e.design_id,
                    title: e.title,
                    description: e.description,
                    tags: e.tags,
                    price_cents: e.price_cents,
                    currency: e.currency,
                }));
            }
            // An approved listing that is edited needs approving again.
            ListingEvent::ListingRevised(e) => {
                self.status = ListingStatus::Draft;
                self.revisions += 1;
                if let Some(s) = e.screening {
                    self.verdict = Some(s.verdict);
                }
                if let Some(c) = self.content.as_deref_mut() {
                    if let Some(t) = e.title {
                        c.title = t;
                    }
                    if let Some(d) = e.description {
                        c.description = d;
                    }
                    if let Some(t) = e.tags {
                        c.tags = t;
                    }
                    if let Some(p) = e.price_cents {
                        c.price_cents = p;
                    }
                }
            }
            ListingEvent::ListingApproved(_) => self.status = ListingStatus::Approved,
            ListingEvent::ListingSubmitted(e) => {
                self.status = ListingStatus::Queued;
                self.submissions += 1;
                self.submission = Some(Submission {
                    shop_id: e.shop_id,
                    dry_run: e.dry_run,
                    number: self.submissions,
                    ..Default::default()
                });
            }
            ListingEvent::ListingExternalIdRecorded(e) => {
                if let Some(s) = self.submission.as_mut() {
                    match e.kind {
                        ExternalKind::PrintifyProduct => s.printify_product_id = Some(e.id),
                        ExternalKind::EtsyListing => s.etsy_listing_id = Some(e.id),
                    }
                }
            }
            ListingEvent::ListingPublishRequested(e) => {
                if let Some(s) = self.submission.as_mut() {
                    s.publish_requested_at = Some(e.requested_at);
                }
            }
            ListingEvent::ListingProductStarted(e) => {
                if let Some(s) = self.submission.as_mut() {
                    s.product_started = true;
                    s.product_started_at = e.started_at;
                }
            }
            ListingEvent::ListingPublished(p) => {
                self.status = ListingStatus::Published;
                self.marketplace_state = MarketplaceState::Active;
                self.published_etsy_listing_id = p.etsy_listing_id;
            }
            ListingEvent::ListingMarketplaceStateChanged(e) => self.marketplace_state = e.state,
            // A permanent failure sends it back for editing; a transient one stays queued.
            ListingEvent::ListingPublishFailed(e) => {
                if !e.retryable {
                    self.status = ListingStatus::Draft;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type T = TestFramework<Listing>;

    fn drafted() -> ListingDrafted {
        ListingDrafted {
            idea_id: Uuid::nil(),
            design_id: Uuid::nil(),
            title: "Crazy Cat Mom Shirt, Funny Cat Lover Gift".into(),
            description: "Soft tee.".into(),
            tags: vec!["cat mom".into(), "cat lover gift".into()],
            price_cents: 2499,
            currency: "USD".into(),
            seo_score: 70,
            seo_checks: vec![],
            screening: None,
        }
    }
    /// A title edit as recorded.
    fn revise_title(t: &str) -> ListingRevised {
        edit_title(t).into()
    }
    /// The same edit as a command: the title parsed.
    fn edit_title(t: &str) -> Revision {
        Revision {
            title: Some(Title::parse(t).unwrap()),
            description: None,
            tags: None,
            price_cents: None,
            seo_score: 60,
            seo_checks: vec![],
            screening: None,
            by: Actor::System,
        }
    }

    fn draft() -> Draft {
        Draft::try_from(drafted()).unwrap()
    }

    #[test]
    fn a_draft_is_recorded_as_composed() {
        T::with(())
            .given_no_previous_events()
            .when(ListingCommand::Draft(draft()))
            .then_expect_events(vec![ListingEvent::ListingDrafted(drafted())]);
    }

    #[test]
    fn a_draft_without_a_price_is_refused() {
        let mut d = draft();
        d.price_cents = 0;
        T::with(()).given_no_previous_events().when(ListingCommand::Draft(d)).then_expect_error(ListingError::BadPrice);
    }

    #[test]
    fn drafts_obey_etsy_limits() {
        // A draft cannot even be made of text Etsy would refuse.
        type Change = fn(&mut ListingDrafted);
        let cases: [(Change, ListingError); 4] = [
            (|d| d.title = "x".repeat(141), ListingError::BadTitle(TextError::TitleTooLong { chars: 141 })),
            (
                |d| d.title = "Mom & Dad & Me".into(),
                ListingError::BadTitle(TextError::TitleRepeats { ch: '&', count: 2 }),
            ),
            (
                |d| d.tags = (0..14).map(|i| format!("tag {i}")).collect(),
                ListingError::BadTags(TextError::TooManyTags { count: 14 }),
            ),
            (
                |d| d.tags = vec!["a tag that is far too long".into()],
                ListingError::BadTags(TextError::TagTooLong { tag: "a tag that is far too long".into(), chars: 26 }),
            ),
        ];
        for (change, error) in cases {
            let mut d = drafted();
            change(&mut d);
            assert_eq!(Draft::try_from(d), Err(error));
        }
    }

    #[test]
    fn a_description_no_layer_downstream_can_take_is_refused() {
        use crate::domain::text::FreeTextError;
        // Neither a draft nor a revision can be made with such text: both
        // commands take a parsed `Description`.
        let mut d = drafted();
        d.description = "Soft\u{0}tee".into();
        assert_eq!(
            Draft::try_from(d),
            Err(ListingError::BadDescription(FreeTextError::Control { field: "description", code: 0, at: 5 }))
        );
        assert_eq!(
            Description::parse("\u{202E}eet tfos"),
            Err(FreeTextError::Bidi { field: "description", code: 0x202E, at: 1 })
        );
    }

    fn screening(verdict: crate::domain::idea::Verdict) -> Option<crate::domain::idea::IdeaScreened> {
        Some(crate::domain::idea::IdeaScreened { verdict, hits: vec![], index_version: "idx-test".into() })
    }
    fn drafted_as(verdict: crate::domain::idea::Verdict) -> ListingEvent {
        ListingEvent::ListingDrafted(ListingDrafted { screening: screening(verdict), ..drafted() })
    }
    fn policy() -> Actor {
        Actor::Policy { name: "auto".into() }
    }
    fn person() -> Actor {
        Actor::User { user_id: Uuid::nil() }
    }

    #[test]
    fn red_text_blocks_approval_and_amber_text_needs_a_person() {
        use crate::domain::idea::Verdict;
        let cases: [(Verdict, Actor, ListingError); 2] = [
            (Verdict::Red, person(), ListingError::ScreenedRed),
            (Verdict::Amber, policy(), ListingError::NeedsPerson),
        ];
        for (verdict, by, error) in cases {
            T::with(()).given(vec![drafted_as(verdict)]).when(ListingCommand::Approve { by }).then_expect_error(error);
        }
    }

    #[test]
    fn a_person_approves_amber_text() {
        T::with(())
            .given(vec![drafted_as(crate::domain::idea::Verdict::Amber)])
            .when(ListingCommand::Approve { by: person() })
            .then_expect_events(vec![ListingEvent::ListingApproved(ListingApproved { by: person() })]);
    }

    #[test]
    fn the_policy_approves_green_text() {
        T::with(())
            .given(vec![drafted_as(crate::domain::idea::Verdict::Green)])
            .when(ListingCommand::Approve { by: policy() })
            .then_expect_events(vec![ListingEvent::ListingApproved(ListingApproved { by: policy() })]);
    }

    #[test]
    fn a_text_change_without_its_screening_is_refused_once_the_listing_has_a_verdict() {
        T::with(())
            .given(vec![drafted_as(crate::domain::idea::Verdict::Red)])
            .when(ListingCommand::Revise { revision: edit_title("Cat Mom Shirt"), expected_revisions: None })
            .then_expect_error(ListingError::UnscreenedRevision);
    }

    #[test]
    fn a_revised_texts_verdict_replaces_the_drafts() {
        use crate::domain::idea::Verdict;
        // A person fixes the words; the new screening is green.
        let mut l = Listing::default();
        l.apply(drafted_as(Verdict::Red));
        l.apply(ListingEvent::ListingRevised(ListingRevised {
            screening: screening(Verdict::Green),
            ..revise_title("Cat Mom Shirt")
        }));
        assert_eq!(l.verdict, Some(Verdict::Green));
    }

    #[test]
    fn a_revision_is_recorded_with_its_new_screening_even_when_red() {
        use crate::domain::idea::Verdict;
        T::with(())
            .given(vec![drafted_as(Verdict::Green)])
            .when(ListingCommand::Revise {
                revision: Revision { screening: screening(Verdict::Red), ..edit_title("Disney Cat Mom") },
                expected_revisions: Some(0),
            })
            .then_expect_events(vec![ListingEvent::ListingRevised(ListingRevised {
                screening: screening(Verdict::Red),
                ..revise_title("Disney Cat Mom")
            })]);
    }

    fn edited_once() -> Vec<ListingEvent> {
        vec![ListingEvent::ListingDrafted(drafted()), ListingEvent::ListingRevised(revise_title("First edit"))]
    }

    #[test]
    fn an_edit_made_on_an_old_revision_is_refused_with_the_current_one() {
        T::with(())
            .given(edited_once())
            .when(ListingCommand::Revise { revision: edit_title("Second edit"), expected_revisions: Some(0) })
            .then_expect_error(ListingError::Stale { current: 1 });
    }

    #[test]
    fn an_edit_made_on_the_current_revision_is_recorded() {
        let mut l = Listing::default();
        edited_once().into_iter().for_each(|e| l.apply(e));
        assert_eq!(l.revisions, 1);
        T::with(())
            .given(edited_once())
            .when(ListingCommand::Revise { revision: edit_title("Second edit"), expected_revisions: Some(1) })
            .then_expect_events(vec![ListingEvent::ListingRevised(revise_title("Second edit"))]);
    }

    #[test]
    fn editing_an_approved_listing_needs_a_new_approval() {
        let mut l = Listing::default();
        l.apply(ListingEvent::ListingDrafted(drafted()));
        l.apply(ListingEvent::ListingApproved(ListingApproved { by: Actor::System }));
        l.apply(ListingEvent::ListingRevised(revise_title("New title")));
        assert_eq!(l.status, ListingStatus::Draft);
    }

    #[test]
    fn the_content_follows_revisions() {
        let mut l = Listing::default();
        l.apply(ListingEvent::ListingDrafted(drafted()));
        l.apply(ListingEvent::ListingRevised(ListingRevised {
            tags: Some(vec!["cat mom".into()]),
            price_cents: Some(1999),
            ..revise_title("Cat Mom Era Shirt")
        }));
        let c = l.content.as_deref().unwrap();
        assert_eq!(
            (c.title.as_str(), c.tags.as_slice(), c.price_cents),
            ("Cat Mom Era Shirt", &["cat mom".to_owned()][..], 1999)
        );
        assert_eq!(c.description, "Soft tee.", "untouched fields stay");
    }

    fn approved() -> Vec<ListingEvent> {
        vec![
            ListingEvent::ListingDrafted(drafted()),
            ListingEvent::ListingApproved(ListingApproved { by: Actor::System }),
        ]
    }

    #[test]
    fn a_real_submission_needs_a_shop() {
        T::with(())
            .given(approved())
            .when(ListingCommand::Submit { by: Actor::System, shop_id: None, dry_run: false })
            .then_expect_error(ListingError::NoShop);
    }

    #[test]
    fn a_dry_run_is_submitted_without_a_shop() {
        T::with(())
            .given(approved())
            .when(ListingCommand::Submit { by: Actor::System, shop_id: None, dry_run: true })
            .then_expect_events(vec![ListingEvent::ListingSubmitted(ListingSubmitted {
                by: Actor::System,
                shop_id: None,
                dry_run: true,
            })]);
    }

    #[test]
    fn queued_listings_are_frozen() {
        T::with(())
            .given(vec![
                ListingEvent::ListingDrafted(drafted()),
                ListingEvent::ListingApproved(ListingApproved { by: Actor::System }),
                ListingEvent::ListingSubmitted(ListingSubmitted {
                    by: Actor::System,
                    shop_id: Some(Uuid::nil()),
                    dry_run: true,
                }),
            ])
            .when(ListingCommand::Revise { revision: edit_title("Other"), expected_revisions: None })
            .then_expect_error(ListingError::WrongState("queued", "revised"));
    }

    fn queued() -> Vec<ListingEvent> {
        vec![
            ListingEvent::ListingDrafted(drafted()),
            ListingEvent::ListingApproved(ListingApproved { by: Actor::System }),
            ListingEvent::ListingSubmitted(ListingSubmitted { by: Actor::System, shop_id: None, dry_run: true }),
        ]
    }

    const SHOP: Uuid = Uuid::from_u128(7);

    fn queued_for_a_shop() -> Vec<ListingEvent> {
        vec![
            ListingEvent::ListingDrafted(drafted()),
            ListingEvent::ListingApproved(ListingApproved { by: Actor::System }),
            ListingEvent::ListingSubmitted(ListingSubmitted { by: Actor::System, shop_id: Some(SHOP), dry_run: false }),
        ]
    }

    fn product(id: &str) -> ListingCommand {
        ListingCommand::RecordExternalId { submission: 1, kind: ExternalKind::PrintifyProduct, id: id.into() }
    }

    fn product_recorded(id: &str) -> ListingEvent {
        ListingEvent::ListingExternalIdRecorded(ListingExternalIdRecorded {
            shop_id: SHOP,
            kind: ExternalKind::PrintifyProduct,
            id: id.into(),
        })
    }

    #[test]
    fn a_marketplace_id_is_recorded_for_the_submissions_shop() {
        T::with(())
            .given(queued_for_a_shop())
            .when(product("5d39b159e7c48c000728c89f"))
            .then_expect_events(vec![product_recorded("5d39b159e7c48c000728c89f")]);
    }

    #[test]
    fn the_same_marketplace_id_again_changes_nothing() {
        let mut given = queued_for_a_shop();
        given.push(product_recorded("abc"));
        T::with(()).given(given).when(product("abc")).then_expect_events(vec![]);
    }

    #[test]
    fn a_second_product_for_one_submission_is_refused() {
        let mut given = queued_for_a_shop();
        given.push(product_recorded("abc"));
        T::with(()).given(given).when(product("def")).then_expect_error(ListingError::ExternalIdConflict {
            kind: ExternalKind::PrintifyProduct,
            recorded: "abc".into(),
            id: "def".into(),
        });
    }

    #[test]
    fn marketplace_ids_that_are_empty_long_or_multiline_are_refused() {
        for id in [String::new(), "x".repeat(MAX_EXTERNAL_ID + 1), "a\nb".into(), "a\u{0}b".into()] {
            T::with(())
                .given(queued_for_a_shop())
                .when(product(&id))
                .then_expect_error(ListingError::BadExternalId { kind: ExternalKind::PrintifyProduct, id: id.clone() });
        }
    }

    #[test]
    fn a_dry_run_has_no_marketplace_ids() {
        T::with(()).given(queued()).when(product("abc")).then_expect_error(ListingError::NotForAShop);
    }

    #[test]
    fn a_product_is_started_once_per_submission() {
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let started = ListingProductStarted { shop_id: SHOP, started_at: Some(at) };
        let mut given = queued_for_a_shop();
        given.push(ListingEvent::ListingProductStarted(started.clone()));
        let again =
            ListingCommand::RecordProductStarted { submission: 1, started_at: at + chrono::Duration::seconds(9) };
        T::with(()).given(given).when(again).then_expect_events(vec![]);
        T::with(())
            .given(queued_for_a_shop())
            .when(ListingCommand::RecordProductStarted { submission: 1, started_at: at })
            .then_expect_events(vec![ListingEvent::ListingProductStarted(started)]);
    }

    #[test]
    fn a_published_listing_records_what_its_marketplace_says_of_it_once_each_change() {
        let published = |dry_run| {
            ListingEvent::ListingPublished(ListingPublished {
                printify_product_id: None,
                etsy_listing_id: Some("1700000001".into()),
                url: None,
                dry_run,
            })
        };
        let mut given = queued_for_a_shop();
        given.push(published(false));
        let changed = |state| {
            ListingEvent::ListingMarketplaceStateChanged(ListingMarketplaceStateChanged { shop_id: SHOP, state })
        };
        let polled = |state| ListingCommand::RecordMarketplaceState { etsy_listing_id: "1700000001".into(), state };
        let sold_out = polled(MarketplaceState::SoldOut);
        T::with(())
            .given(given.clone())
            .when(sold_out.clone())
            .then_expect_events(vec![changed(MarketplaceState::SoldOut)]);
        // Still active, as published: nothing to say.
        let active = polled(MarketplaceState::Active);
        T::with(()).given(given.clone()).when(active.clone()).then_expect_events(vec![]);
        // A poll of another Etsy listing (an earlier publication) changes nothing.
        let other = ListingCommand::RecordMarketplaceState {
            etsy_listing_id: "1600000000".into(),
            state: MarketplaceState::Removed,
        };
        T::with(()).given(given.clone()).when(other).then_expect_events(vec![]);
        // Sold out, then for sale again.
        given.push(changed(MarketplaceState::SoldOut));
        T::with(()).given(given.clone()).when(sold_out).then_expect_events(vec![]);
        T::with(()).given(given).when(active).then_expect_events(vec![changed(MarketplaceState::Active)]);
        // Not published: refused.
        T::with(())
            .given(queued_for_a_shop())
            .when(polled(MarketplaceState::Removed))
            .then_expect_error(ListingError::WrongState("queued", "polled on its marketplace"));
    }

    #[test]
    fn asking_to_publish_twice_is_recorded_once() {
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let mut given = queued_for_a_shop();
        given.push(ListingEvent::ListingPublishRequested(ListingPublishRequested { shop_id: SHOP, requested_at: at }));
        T::with(())
            .given(given)
            .when(ListingCommand::RecordPublishRequest {
                submission: 1,
                requested_at: at + chrono::Duration::seconds(5),
            })
            .then_expect_events(vec![]);
    }

    /// Queued for a shop, `during` the first submission, failed, then
    /// approved and submitted again: submission 2.
    fn queued_again(during: Vec<ListingEvent>) -> Vec<ListingEvent> {
        let mut events = queued_for_a_shop();
        events.extend(during);
        events.push(ListingEvent::ListingPublishFailed(ListingPublishFailed { reason: "x".into(), retryable: false }));
        events.push(ListingEvent::ListingApproved(ListingApproved { by: Actor::System }));
        let again = ListingSubmitted { by: Actor::System, shop_id: Some(SHOP), dry_run: false };
        events.push(ListingEvent::ListingSubmitted(again));
        events
    }

    #[test]
    fn a_new_submission_starts_without_the_last_ones_ids() {
        let mut listing = Listing::default();
        for e in queued_again(vec![product_recorded("abc")]) {
            listing.apply(e);
        }
        let submission = listing.submission.expect("queued");
        assert_eq!((submission.number, submission.printify_product_id), (2, None));
    }

    #[test]
    fn a_step_of_an_earlier_submission_is_refused_once_another_is_queued() {
        let given = queued_again(vec![]);
        let over = || ListingError::OtherSubmission { given: 1, current: 2 };
        let published =
            ListingPublished { printify_product_id: None, etsy_listing_id: None, url: None, dry_run: false };
        let failed = ListingPublishFailed { reason: "late".into(), retryable: false };
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        for stale in [
            ListingCommand::RecordPublished { submission: 1, published: published.clone() },
            ListingCommand::RecordPublishFailure { submission: 1, failed },
            product("abc"),
            ListingCommand::RecordProductStarted { submission: 1, started_at: at },
            ListingCommand::RecordPublishRequest { submission: 1, requested_at: at },
        ] {
            T::with(()).given(given.clone()).when(stale).then_expect_error(over());
        }
        assert!(over().is_submission_over() && ListingError::WrongState("a draft", "published").is_submission_over());
        // Its own steps are taken.
        T::with(())
            .given(given)
            .when(ListingCommand::RecordPublished { submission: 2, published: published.clone() })
            .then_expect_events(vec![ListingEvent::ListingPublished(published)]);
    }

    #[test]
    fn a_queued_listing_is_recorded_as_published() {
        let published = ListingPublished { printify_product_id: None, etsy_listing_id: None, url: None, dry_run: true };
        T::with(())
            .given(queued())
            .when(ListingCommand::RecordPublished { submission: 1, published: published.clone() })
            .then_expect_events(vec![ListingEvent::ListingPublished(published)]);
    }

    #[test]
    fn a_queued_listings_failure_is_recorded_with_its_reason() {
        let failed = ListingPublishFailed { reason: "the artwork's checksum does not match".into(), retryable: false };
        T::with(())
            .given(queued())
            .when(ListingCommand::RecordPublishFailure { submission: 1, failed: failed.clone() })
            .then_expect_events(vec![ListingEvent::ListingPublishFailed(failed)]);
    }

    #[test]
    fn only_a_queued_listing_is_published_or_fails() {
        let published = ListingPublished { printify_product_id: None, etsy_listing_id: None, url: None, dry_run: true };
        let failed = ListingPublishFailed { reason: "x".into(), retryable: true };
        let cases: [(ListingCommand, &'static str); 2] = [
            (ListingCommand::RecordPublished { submission: 1, published }, "published"),
            (ListingCommand::RecordPublishFailure { submission: 1, failed }, "failed"),
        ];
        for (command, what) in cases {
            T::with(())
                .given(vec![ListingEvent::ListingDrafted(drafted())])
                .when(command)
                .then_expect_error(ListingError::WrongState("a draft", what));
        }
    }

    #[test]
    fn only_approved_listings_are_submitted() {
        T::with(())
            .given(vec![ListingEvent::ListingDrafted(drafted())])
            .when(ListingCommand::Submit { by: Actor::System, shop_id: Some(Uuid::nil()), dry_run: false })
            .then_expect_error(ListingError::WrongState("a draft", "submitted"));
    }
}

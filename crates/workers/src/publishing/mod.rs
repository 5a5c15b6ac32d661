//! Publishing: a listing submitted for publishing is checked once more,
//! as the marketplace would check it, and then published, or, in a dry
//! run, recorded as published without anything leaving the building.
//!
//! The checks (`preflight`) are pure: the listing's text against Etsy's
//! rules, the screening verdict, the price, and the artwork against what
//! the design recorded (its bytes, its checksum, its print area). A listing
//! that fails them goes back to its editor with every reason at once.
//!
//! A submission to a connected Printify shop goes on through `printify`
//! (product made, publish asked, settled when listed), within the shop's
//! budgets (`limits`); one to a connected Etsy shop through `etsy` (draft
//! made, image uploaded, made active), within the app's budgets.

pub mod etsy;
pub mod limits;
pub mod printify;

use std::sync::Arc;

use pod_blobs::{BlobError, BlobStore, sha256_hex};
use pod_events::domain::design::{Asset, DesignStatus, PrintArea};
use pod_events::domain::idea::Verdict;
use pod_events::domain::listing::{
    ListingCommand, ListingContent, ListingError, ListingEvent, ListingPublishFailed, ListingPublished, ListingStatus,
};
use pod_events::domain::listing_text::{Title, parse_tags};
use pod_events::domain::shop::Marketplace;
use pod_events::{AggregateId, EventMeta, RecordedEvent};

use crate::pipeline::{Pipeline, settle, source_id, store_failure};
use crate::runtime::{Handler, HandlerError};
use etsy::EtsyPublisher;
use printify::PrintifyPublisher;

/// What the checks look at: the listing as it stands and its design's artwork.
pub struct Preflight<'a> {
    pub content: &'a ListingContent,
    pub verdict: Option<Verdict>,
    pub print_area: Option<PrintArea>,
    pub artwork: Option<&'a Asset>,
    /// The artwork's bytes as the blob store has them (None: not found).
    pub artwork_bytes: Option<&'a [u8]>,
    /// The design stands as rendered or approved (not rejected, not being
    /// rendered again).
    pub design_current: bool,
}

/// Every reason the marketplace would refuse the listing; empty when none.
pub fn preflight(p: &Preflight<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = Title::parse(&p.content.title) {
        problems.push(format!("title: {e}"));
    }
    if let Err(e) = parse_tags(&p.content.tags) {
        problems.push(format!("tags: {e}"));
    }
    if p.content.description.trim().is_empty() {
        problems.push("description: Etsy needs one".into());
    }
    if p.content.price_cents == 0 {
        problems.push("price: must be above zero".into());
    }
    match p.verdict {
        Some(Verdict::Red) => problems.push("screening: the text names a protected mark".into()),
        None => problems.push("screening: the text was never screened".into()),
        _ => {}
    }
    if !p.design_current {
        problems.push("design: rejected, or being rendered again; publish once it is rendered".into());
    }
    match (p.artwork, p.artwork_bytes) {
        (None, _) => problems.push("artwork: the design has not been rendered".into()),
        (Some(a), None) => problems.push(format!("artwork: {} is missing from the blob store", a.key)),
        (Some(a), Some(bytes)) => {
            if sha256_hex(bytes) != a.sha256 || bytes.len() as u64 != a.bytes {
                problems.push(format!("artwork: {} does not match the checksum the design recorded", a.key));
            }
            if let Some(area) = p.print_area
                && (a.width, a.height) != (area.width, area.height)
            {
                problems.push(format!(
                    "artwork: {}×{} px does not fill the {}×{} px print area",
                    a.width, a.height, area.width, area.height
                ));
            }
        }
    }
    problems
}

pub struct Publishing {
    pipeline: Arc<Pipeline>,
    blobs: Arc<dyn BlobStore>,
    printify: Option<PrintifyPublisher>,
    etsy: Option<EtsyPublisher>,
}

impl Publishing {
    pub fn new(pipeline: Arc<Pipeline>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { pipeline, blobs, printify: None, etsy: None }
    }

    /// Publishes straight to connected Etsy shops.
    pub fn with_etsy(mut self, etsy: EtsyPublisher) -> Self {
        self.etsy = Some(etsy);
        self
    }

    /// Publishes to connected Printify shops (without it, only dry runs).
    pub fn with_printify(mut self, printify: PrintifyPublisher) -> Self {
        self.printify = Some(printify);
        self
    }

    /// Where a real submission stands at its shop: settled, or not yet.
    async fn publish_to_shop(
        &self,
        event: &RecordedEvent,
        listing: &AggregateId,
        submission: &pod_events::domain::listing::Submission,
        content: &pod_events::domain::listing::ListingContent,
        product_type: &str,
        artwork: &[u8],
    ) -> Result<ListingCommand, HandlerError> {
        let Some(shop_id) = submission.shop_id else {
            return Ok(failure(submission.number, "a real submission needs a shop; submit again to one"));
        };
        let shop = AggregateId::new(listing.tenant.clone(), shop_id);
        let shop_state = self.pipeline.shops.store().load_fresh(&shop).await.map_err(store_failure)?.aggregate;
        if !shop_state.connected {
            return Ok(failure(
                submission.number,
                format!("shop {shop_id} is not connected; connect it in Integrations, then submit"),
            ));
        }
        if shop_state.needs_reconnect {
            return Ok(failure(
                submission.number,
                format!(
                    "shop {shop_id} needs reconnecting: its marketplace no longer takes its token; connect it again, then submit"
                ),
            ));
        }
        let Some(marketplace_shop) = shop_state.external_shop_id.as_deref().and_then(|s| s.parse::<u64>().ok()) else {
            return Ok(failure(
                submission.number,
                format!("shop {shop_id} has no marketplace shop id on record; connect it again"),
            ));
        };
        let job = Job { listing, cause: event, submission, content, product_type, artwork, shop_id, marketplace_shop };
        let settled = match shop_state.marketplace {
            Some(Marketplace::Etsy) => {
                let Some(etsy) = &self.etsy else {
                    tracing::error!(
                        "a submission to an Etsy shop, and this publishing worker has no Etsy app (keystring) or vault keys"
                    );
                    return Ok(failure(
                        submission.number,
                        "publishing to Etsy shops is not set up on this server (marketplaces.etsy.keystring, vault keys); ask its operator",
                    ));
                };
                etsy.publish(&self.pipeline, &job, shop_state.listing_defaults.clone()).await?
            }
            _ => {
                let Some(printify) = &self.printify else {
                    tracing::error!(
                        "a submission to a shop, and this publishing worker has no vault.keys to open its token"
                    );
                    return Ok(failure(
                        submission.number,
                        "publishing to shops is not set up on this server (vault keys); ask its operator, or submit a dry run",
                    ));
                };
                printify.publish(&self.pipeline, &job).await?
            }
        };
        Ok(settled_command(submission.number, settled))
    }
}

/// What is published, and where.
pub struct Job<'a> {
    pub listing: &'a AggregateId,
    pub cause: &'a RecordedEvent,
    pub submission: &'a pod_events::domain::listing::Submission,
    pub content: &'a ListingContent,
    pub product_type: &'a str,
    /// The artwork (empty where it was not read: a submission under way
    /// at Printify, whose product has it already).
    pub artwork: &'a [u8],
    pub shop_id: uuid::Uuid,
    /// The shop's id at its marketplace.
    pub marketplace_shop: u64,
}

/// What is recorded of how submission `number` ended.
fn settled_command(number: u32, settled: Settled) -> ListingCommand {
    match settled {
        Settled::Published(published) => ListingCommand::RecordPublished { submission: number, published },
        Settled::Failed(failed) => ListingCommand::RecordPublishFailure { submission: number, failed },
    }
}

/// How a submission to a shop ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    Published(ListingPublished),
    Failed(ListingPublishFailed),
}

/// A failure the seller fixes, its reason made fit for the log.
fn failed(reason: impl Into<String>) -> Settled {
    Settled::Failed(ListingPublishFailed { reason: pod_events::domain::text::note(&reason.into()), retryable: false })
}

/// Why a step of a run stopped it: settled, or to carry on later.
enum Stop {
    Settled(Settled),
    Handler(HandlerError),
}

impl From<HandlerError> for Stop {
    fn from(e: HandlerError) -> Self {
        Stop::Handler(e)
    }
}

/// A run's end as its handler answers it: settled, or when to carry on.
fn ended(run: Result<Settled, Stop>) -> Result<Settled, HandlerError> {
    match run {
        Ok(settled) | Err(Stop::Settled(settled)) => Ok(settled),
        Err(Stop::Handler(e)) => Err(e),
    }
}

/// Records a step of a submission on its listing, caused by the event
/// being handled. A submission over meanwhile (settled by another run, or
/// another queued since) stops the run: it has nothing more to do.
async fn record_step(
    pipeline: &Pipeline,
    listing: &AggregateId,
    cause: &RecordedEvent,
    command: ListingCommand,
    step: &str,
) -> Result<(), Stop> {
    let meta = EventMeta::caused_by(cause, step);
    let over = std::sync::atomic::AtomicBool::new(false);
    let is_over = |e: &ListingError| {
        let over_now = e.is_submission_over();
        over.store(over_now, std::sync::atomic::Ordering::Relaxed);
        over_now
    };
    settle(&pipeline.listings, listing, command, &meta, is_over).await?;
    if over.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::info!(%listing, step, "the submission is over meanwhile; this run stops");
        return Err(Stop::Settled(failed("settled by another run meanwhile")));
    }
    Ok(())
}

/// Marks the listing's shop as needing reconnecting, saying `why` (once:
/// a shop already marked stays as it is).
async fn mark_needs_reconnect(
    pipeline: &Pipeline,
    listing: &AggregateId,
    shop_id: uuid::Uuid,
    cause: &RecordedEvent,
    step: &str,
    why: &str,
) -> Result<(), Stop> {
    let shop = AggregateId::new(listing.tenant.clone(), shop_id);
    let reason =
        pod_events::domain::text::Note::parse(&pod_events::domain::text::note(why)).map_err(HandlerError::permanent)?;
    let meta = EventMeta::caused_by(cause, step);
    let command = pod_events::domain::shop::ShopCommand::MarkNeedsReconnect { reason };
    settle(&pipeline.shops, &shop, command, &meta, |_| true).await?;
    Ok(())
}

/// A URL fit to link to: https, one line, of a sensible length.
fn is_listing_url(u: &str) -> bool {
    let invisible =
        |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
    u.starts_with("https://")
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_control() || c.is_whitespace() || invisible(c))
}

/// Submission `number` failed in a way the seller fixes: the listing goes
/// back to its editor.
fn failure(number: u32, reason: impl Into<String>) -> ListingCommand {
    let failed = ListingPublishFailed { reason: reason.into(), retryable: false };
    ListingCommand::RecordPublishFailure { submission: number, failed }
}

#[async_trait::async_trait]
impl Handler for Publishing {
    fn kind(&self) -> &'static str {
        "publishing"
    }
    fn wants(&self, event_type: &str) -> bool {
        event_type == "ListingSubmitted"
    }
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let ListingEvent::ListingSubmitted(_) = event.to_domain::<ListingEvent>().map_err(HandlerError::permanent)?
        else {
            return Ok(());
        };
        let id = source_id(event)?;
        let loaded = self.pipeline.listings.store().load_fresh(&id).await.map_err(store_failure)?;
        let (listing, version) = (loaded.aggregate, loaded.version);
        // Published or failed since: settled. Queued again since: the
        // current submission's settings count, not this event's.
        let (ListingStatus::Queued, Some(submission)) = (listing.status, listing.submission.as_ref()) else {
            return Ok(());
        };
        // The outcome belongs to the submission as it stands (the listing's
        // version), not only to this event: an older submission's event,
        // redelivered, must not be dropped as the duplicate of its own
        // earlier outcome.
        let meta = EventMeta::caused_by(event, &format!("published@{version}"));
        let Some(content) = listing.content.as_deref() else {
            // Only a state from before listings kept their text: back to its editor.
            let failed = ListingPublishFailed {
                reason: "the listing's text is not known here; save it again and resubmit".into(),
                retryable: false,
            };
            let command = ListingCommand::RecordPublishFailure { submission: submission.number, failed };
            settle(&self.pipeline.listings, &id, command, &meta, ListingError::is_submission_over).await?;
            return Ok(());
        };
        // Under way at Printify (the product made, maybe published): what
        // was checked then stands, and only the product is looked at, so a
        // design changed or a check tightened since cannot send back a
        // listing the marketplace is putting on sale.
        if submission.printify_product_id.is_some() {
            let command = self.publish_to_shop(event, &id, submission, content, "", &[]).await?;
            settle(&self.pipeline.listings, &id, command, &meta, ListingError::is_submission_over).await?;
            return Ok(());
        }
        let design_id = AggregateId::new(id.tenant.clone(), content.design_id);
        let design = self.pipeline.designs.store().load_fresh(&design_id).await.map_err(store_failure)?.aggregate;
        let artwork = design.rendered.as_ref().map(|r| &r.artwork);
        let bytes = match artwork {
            None => None,
            Some(a) => match self.blobs.get(&a.key).await {
                Ok(b) => Some(b),
                Err(BlobError::NotFound { .. }) => None,
                Err(e) => return Err(HandlerError::transient(e)),
            },
        };
        // Under way at Etsy (the draft made): what was checked then stands;
        // the artwork is still wanted, for a draft that has no image yet,
        // and only as the design recorded it (its checksum).
        if submission.etsy_listing_id.is_some() {
            let product_type = design.request.as_ref().map(|r| r.product_type.as_str()).unwrap_or_default();
            let intact = |b: &&Vec<u8>| artwork.is_some_and(|a| sha256_hex(b) == a.sha256);
            let artwork = bytes.as_ref().filter(intact).map(Vec::as_slice).unwrap_or_default();
            let command = self.publish_to_shop(event, &id, submission, content, product_type, artwork).await?;
            settle(&self.pipeline.listings, &id, command, &meta, ListingError::is_submission_over).await?;
            return Ok(());
        }
        let problems = preflight(&Preflight {
            content,
            verdict: listing.verdict,
            print_area: design.print_area,
            artwork,
            artwork_bytes: bytes.as_deref(),
            design_current: matches!(design.status, DesignStatus::Rendered | DesignStatus::Approved),
        });
        let command = if !problems.is_empty() {
            failure(submission.number, problems.join("; "))
        } else if submission.dry_run {
            let published =
                ListingPublished { printify_product_id: None, etsy_listing_id: None, url: None, dry_run: true };
            ListingCommand::RecordPublished { submission: submission.number, published }
        } else {
            let product_type = design.request.as_ref().map(|r| r.product_type.as_str()).unwrap_or_default();
            let artwork = bytes.as_deref().unwrap_or_default();
            self.publish_to_shop(event, &id, submission, content, product_type, artwork).await?
        };
        settle(&self.pipeline.listings, &id, command, &meta, ListingError::is_submission_over).await?;
        Ok(())
    }
}

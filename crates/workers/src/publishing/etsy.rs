//! Publishing straight to Etsy, for sellers who fulfil elsewhere: a draft
//! listing made form-encoded with the shop's shipping profile (the product
//! type's own, where the seller chose one) and return policy, as chosen on
//! Integrations (its first ones until then), and the product type's taxonomy,
//! the artwork uploaded as its image, then the draft made active.
//!
//! Never two listings for one submission: the draft's id is recorded the
//! moment Etsy answers. A crash between Etsy's answer and the recording
//! leaves a draft that the next run finds among the shop's newest drafts
//! (the same title, made after the run started), not one made again. A
//! run that carries on an existing draft uploads the image only if the
//! draft has none.
//!
//! Every request goes through the app's budgets (Etsy's limits are per
//! app: requests a second, a day) and with a token refreshed ahead of its
//! expiry; a token Etsy refuses mid-publish is refreshed and the request
//! tried once more.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pod_events::domain::listing::{ExternalKind, ListingCommand, ListingContent, ListingError, ListingPublished};
use pod_events::domain::shop::{ListingDefaults, ShopCommand};
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta};
use pod_marketplaces::etsy::api::ApiError;
use pod_marketplaces::etsy::listings::{DraftListing, EtsyListing, WhoMade};
use pod_marketplaces::{EtsySettings, Keyring, Secret};
use sqlx::PgPool;

use super::{Job, Settled, Stop, ended, failed, is_listing_url, mark_needs_reconnect, record_step};
use crate::etsy_session::{EtsyApp, Session, SessionError};
use crate::pipeline::{Pipeline, settle, store_failure};
use crate::runtime::HandlerError;

/// How long before a run's start a draft it made may say it was made
/// (Etsy's clock against ours).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(2);

/// How long a run waits for another run of the same listing to finish.
const ANOTHER_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Pages of a shop's newest drafts a search reads at most.
const DRAFT_PAGES: u32 = 10;

/// A step of a run: what is asked of Etsy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Search,
    Draft,
    Images,
    Image,
    Activation,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Self::Search => "the draft search",
            Self::Draft => "the draft",
            Self::Images => "the listing's images",
            Self::Image => "the image",
            Self::Activation => "the activation",
        }
    }

    /// Asked of the submission's draft (a 404 may mean the draft is gone).
    fn on_the_draft(self) -> bool {
        matches!(self, Self::Images | Self::Image | Self::Activation)
    }
}

pub struct EtsyPublisher {
    app: EtsyApp,
    pool: PgPool,
}

impl EtsyPublisher {
    /// `redirect` is where the app's OAuth client sends sellers back (the
    /// same as the API's; a refresh does not use it, but the client is one).
    pub fn new(settings: &EtsySettings, redirect: &str, pool: PgPool, keys: Arc<Keyring>) -> Result<Self, String> {
        Ok(Self { app: EtsyApp::new(settings, redirect, pool.clone(), keys)?, pool })
    }

    /// Takes the submission as far as it can go now: settled, or an error
    /// that says when to carry on (deferred, transient).
    /// `defaults`: the shop's shipping profile and return policy.
    pub async fn publish(
        &self,
        pipeline: &Pipeline,
        job: &Job<'_>,
        defaults: ListingDefaults,
    ) -> Result<Settled, HandlerError> {
        // One run of a submission at a time (a redelivery racing its
        // deferred copy would otherwise draft twice and upload the image
        // twice): the lock is the transaction's, so a run that dies frees it.
        let mut tx = self.pool.begin().await.map_err(HandlerError::transient)?;
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("pod/etsy-publish/{}/{}", job.listing.tenant, job.listing.id))
            .fetch_one(&mut *tx)
            .await
            .map_err(HandlerError::transient)?;
        if !held {
            return Err(HandlerError::deferred("another run is publishing this listing", ANOTHER_RUN_WAIT));
        }
        let session = self.app.session(&job.listing.tenant, job.shop_id);
        let call = Call { publisher: self, pipeline, job, defaults, session };
        let ended = ended(call.run().await);
        if let Err(e) = tx.rollback().await {
            tracing::warn!(listing = %job.listing, error = %e, "releasing the publish lock (it goes with the connection)");
        }
        ended
    }
}

/// One run of a submission to Etsy.
struct Call<'a> {
    publisher: &'a EtsyPublisher,
    pipeline: &'a Pipeline,
    job: &'a Job<'a>,
    defaults: ListingDefaults,
    session: Session<'a>,
}

impl Call<'_> {
    async fn run(&self) -> Result<Settled, Stop> {
        let job = self.job;
        let (listing_id, made_now) = match job.submission.etsy_listing_id.as_deref() {
            Some(id) => match id.parse::<u64>() {
                Ok(id) => (id, false),
                Err(_) => return Err(Stop::Settled(failed(format!("the Etsy listing id {id:?} on record is no id")))),
            },
            None => self.find_or_draft().await?,
        };
        // A draft carried on may have its image already (a run stopped
        // after uploading it); one made now has none.
        let has_image = !made_now && {
            let api = &self.publisher.app.api;
            !self.call(Step::Images, |t| async move { api.listing_images(&t, listing_id).await }).await?.is_empty()
        };
        if !has_image {
            if job.artwork.is_empty() {
                return Err(Stop::Settled(failed(
                    "the artwork could not be read to upload to the Etsy draft; render the design again, then submit",
                )));
            }
            let (api, shop, png) = (&self.publisher.app.api, job.marketplace_shop, job.artwork);
            let alt = job.content.title.as_str();
            self.call(Step::Image, |t| async move {
                api.upload_listing_image(&t, shop, listing_id, png.to_vec(), alt).await
            })
            .await?;
        }
        let (api, shop) = (&self.publisher.app.api, job.marketplace_shop);
        let active =
            self.call(Step::Activation, |t| async move { api.activate_listing(&t, shop, listing_id).await }).await?;
        if active.state != "active" {
            return Err(Stop::Settled(failed(format!(
                "Etsy kept listing {listing_id} {:?} when asked to make it active; see why on Etsy, then submit again",
                pod_marketplaces::http::one_line(&active.state)
            ))));
        }
        // The link is ours to make: Etsy's own may carry a slug of any text.
        let url = format!("https://www.etsy.com/listing/{listing_id}");
        Ok(Settled::Published(ListingPublished {
            printify_product_id: None,
            etsy_listing_id: Some(listing_id.to_string()),
            url: Some(url).filter(|u| is_listing_url(u)),
            dry_run: false,
        }))
    }

    /// The draft already made for this submission (found), or a new one
    /// (made now), its id recorded either way.
    async fn find_or_draft(&self) -> Result<(u64, bool), Stop> {
        let job = self.job;
        if job.submission.product_started
            && let Some(found) = self.search().await?
        {
            tracing::info!(listing = %job.listing, etsy_listing = found, "found the Etsy draft made before a restart");
            return Ok((self.record_listing(found).await?, false));
        }
        let draft = self.draft()?;
        if !job.submission.product_started {
            let started =
                ListingCommand::RecordProductStarted { submission: job.submission.number, started_at: Utc::now() };
            self.record(started, &format!("etsy-started/{}", job.submission.number)).await?;
        }
        let (api, shop, draft) = (&self.publisher.app.api, job.marketplace_shop, &draft);
        let made = self.call(Step::Draft, |t| async move { api.create_draft_listing(&t, shop, draft).await }).await?;
        let kept = self.record_listing(made.listing_id).await?;
        Ok((kept, kept == made.listing_id))
    }

    /// What Etsy is asked to draft, or why it cannot be.
    fn draft(&self) -> Result<DraftListing, Stop> {
        let job = self.job;
        let Some(taxonomy_id) = self.publisher.app.settings.taxonomy_for(job.product_type) else {
            return Err(Stop::Settled(failed(format!(
                "product type {:?} has no Etsy category; set marketplaces.etsy.taxonomies.{:?} to its seller taxonomy id",
                job.product_type,
                job.product_type.trim().to_lowercase()
            ))));
        };
        if let Some(shop_currency) = self.defaults.currency.as_deref()
            && !shop_currency.eq_ignore_ascii_case(&job.content.currency)
        {
            return Err(Stop::Settled(failed(format!(
                "the listing is priced in {} and the Etsy shop sells in {shop_currency}; price it in {shop_currency}, then submit",
                job.content.currency
            ))));
        }
        let Some(shipping_profile_id) = self.defaults.shipping_profile_for(job.product_type) else {
            return Err(Stop::Settled(failed(format!(
                "shop {} has no shipping profile chosen; add one on Etsy, then choose it under Integrations → Listing defaults",
                job.shop_id
            ))));
        };
        Ok(draft_of(job.content, taxonomy_id, shipping_profile_id, self.defaults.return_policy_id))
    }

    /// The shop's draft with this listing's title made since the run
    /// started and recorded by no listing, if there is one; more than one
    /// sends the listing back (which is ours cannot be told).
    async fn search(&self) -> Result<Option<u64>, Stop> {
        let Some(started_at) = self.job.submission.product_started_at else { return Ok(None) };
        let (api, shop) = (&self.publisher.app.api, self.job.marketplace_shop);
        let mut candidates = Vec::new();
        for page in 0..DRAFT_PAGES {
            let offset = page * pod_marketplaces::etsy::listings::DRAFTS_PAGE;
            let drafts = self.call(Step::Search, |t| async move { api.newest_drafts(&t, shop, offset).await }).await?;
            candidates.extend(made_for(&drafts, &self.job.content.title, started_at));
            let older = drafts
                .last()
                .and_then(|d| d.created_timestamp)
                .is_none_or(|at| at < (started_at - CLOCK_SKEW).timestamp());
            if older || drafts.len() < pod_marketplaces::etsy::listings::DRAFTS_PAGE as usize {
                break;
            }
        }
        let taken = self.recorded_elsewhere(&candidates).await?;
        candidates.retain(|id| !taken.contains(id));
        match candidates.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            several => Err(Stop::Settled(failed(format!(
                "Etsy has {} drafts titled like this one made since publishing started ({}); delete the extra ones on Etsy, then submit again",
                several.len(),
                several.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            )))),
        }
    }

    /// Of these Etsy listings, those another listing (of any shop) has recorded.
    async fn recorded_elsewhere(&self, ids: &[u64]) -> Result<Vec<u64>, Stop> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        let taken: Vec<String> = sqlx::query_scalar(
            "SELECT etsy_listing_id FROM listings
             WHERE etsy_listing_id = ANY($1) AND NOT (tenant = $2 AND listing_id = $3)",
        )
        .bind(&ids)
        .bind(&self.job.listing.tenant)
        .bind(self.job.listing.id)
        .fetch_all(&self.publisher.pool)
        .await
        .map_err(HandlerError::transient)?;
        Ok(taken.iter().filter_map(|id| id.parse().ok()).collect())
    }

    /// Records the submission's Etsy listing; the one it keeps. Another
    /// run's, recorded first, stands: the draft this run made is then left
    /// a draft (Etsy keeps drafts out of the shop), and said so.
    async fn record_listing(&self, id: u64) -> Result<u64, Stop> {
        let job = self.job;
        let meta = EventMeta::caused_by(job.cause, &format!("etsy-listing/{}/{id}", job.submission.number));
        let submission = job.submission.number;
        let command =
            ListingCommand::RecordExternalId { submission, kind: ExternalKind::EtsyListing, id: id.to_string() };
        match self.pipeline.listings.execute(job.listing, command, &meta).await {
            Ok(_) => Ok(id),
            Err(CommandError::Rejected(ListingError::ExternalIdConflict { recorded, .. })) => {
                tracing::warn!(listing = %job.listing, kept = %recorded, extra = id, "two runs drafted on Etsy; the extra draft stays a draft");
                recorded
                    .parse()
                    .map_err(|_| Stop::Settled(failed(format!("the Etsy listing id {recorded:?} on record is no id"))))
            }
            Err(CommandError::Rejected(e)) if e.is_submission_over() => {
                Err(Stop::Settled(failed("settled by another run meanwhile")))
            }
            Err(CommandError::Rejected(e)) => {
                Err(HandlerError::permanent(format!("listing {} refused: {e}", job.listing)).into())
            }
            Err(CommandError::Conflict { .. }) => Err(HandlerError::transient("the listing kept changing").into()),
            Err(CommandError::Store(e)) => Err(store_failure(e).into()),
        }
    }

    /// One Etsy request (`etsy_session`), what its failure means for the
    /// submission, and a refresh it made recorded on the shop.
    async fn call<T, F, Fut>(&self, step: Step, request: F) -> Result<T, Stop>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let answer = self.session.call(request).await;
        if let Some(until) = self.session.take_refresh() {
            self.record_refresh(until).await?;
        }
        match answer {
            Ok(v) => Ok(v),
            Err(SessionError::Api(e)) => self.outcome(Err(e), step).await,
            Err(SessionError::Budget(deferred)) => Err(deferred.into()),
            Err(SessionError::NeedsReconnect(reason)) => {
                self.shop_needs_reconnect(&format!("Etsy no longer takes the shop's tokens: {reason}")).await?;
                Err(Stop::Settled(failed(
                    "Etsy no longer takes the shop's tokens; connect the shop again in Integrations, then submit",
                )))
            }
            Err(SessionError::NotConnected) => Err(Stop::Settled(failed(format!(
                "shop {}: no Etsy tokens are kept; connect it again, then submit",
                self.job.shop_id
            )))),
            Err(e) => Err(HandlerError::of(e).into()),
        }
    }

    /// A call's answer, or what its failure means for the submission.
    async fn outcome<T>(&self, answer: Result<T, ApiError>, step: Step) -> Result<T, Stop> {
        let what = step.name();
        match answer {
            Ok(v) => Ok(v),
            Err(ApiError::RateLimited(wait)) => {
                Err(HandlerError::deferred("Etsy is rate limiting the app", wait).into())
            }
            Err(e @ ApiError::Unavailable(_)) => Err(HandlerError::transient(e).into()),
            Err(ApiError::Unauthorized) => {
                self.shop_needs_reconnect("Etsy refused the shop's freshly refreshed token").await?;
                Err(Stop::Settled(failed("Etsy refused the shop's token; connect the shop again, then submit")))
            }
            Err(ApiError::Refused { status: 404, message }) if message.contains("Shop") => {
                Err(Stop::Settled(failed(format!(
                    "Etsy does not know shop {} any more ({message}); connect it again, then submit",
                    self.job.marketplace_shop
                ))))
            }
            Err(ApiError::Refused { status: 404, .. }) if step.on_the_draft() => Err(Stop::Settled(failed(format!(
                "the Etsy draft made for this listing is gone (deleted on Etsy?) at {what}; submit again to make another"
            )))),
            Err(ApiError::Refused { status, message }) => {
                Err(Stop::Settled(failed(format!("Etsy refused {what} ({status}): {message}"))))
            }
            Err(e @ ApiError::Settings { .. }) => Err(HandlerError::permanent(e).into()),
        }
    }

    async fn shop_needs_reconnect(&self, why: &str) -> Result<(), Stop> {
        let job = self.job;
        let step = format!("etsy-token-refused/{}", job.submission.number);
        mark_needs_reconnect(self.pipeline, job.listing, job.shop_id, job.cause, &step, why).await
    }

    async fn record_refresh(&self, until: DateTime<Utc>) -> Result<(), Stop> {
        let job = self.job;
        let shop = AggregateId::new(job.listing.tenant.clone(), job.shop_id);
        let step = format!("etsy-token-refresh/{}/{}", job.submission.number, until.timestamp());
        let meta = EventMeta::caused_by(job.cause, &step);
        let command = ShopCommand::RecordTokenRefresh { token_expires_at: until };
        settle(&self.pipeline.shops, &shop, command, &meta, |_| true).await?;
        Ok(())
    }

    async fn record(&self, command: ListingCommand, step: &str) -> Result<(), Stop> {
        record_step(self.pipeline, self.job.listing, self.job.cause, command, step).await
    }
}

/// The draft a listing is published as: made to order by the seller with
/// a production partner, physical, filed under `taxonomy_id`, shipped and
/// returned under the shop's policies.
pub fn draft_of(
    content: &ListingContent,
    taxonomy_id: u64,
    shipping_profile_id: u64,
    return_policy_id: Option<u64>,
) -> DraftListing {
    DraftListing {
        title: content.title.clone(),
        description: content.description.clone(),
        price_cents: content.price_cents,
        quantity: 999,
        tags: content.tags.clone(),
        taxonomy_id,
        who_made: WhoMade::IDid,
        shipping_profile_id: Some(shipping_profile_id),
        return_policy_id,
        production_partner_ids: Vec::new(),
    }
}

/// Among a shop's drafts, those that may be a submission's: its title (as
/// Etsy gives titles back, HTML-escaped), made since the run started (less
/// the clocks' skew).
pub fn made_for(drafts: &[EtsyListing], title: &str, started_at: DateTime<Utc>) -> Vec<u64> {
    let since = (started_at - CLOCK_SKEW).timestamp();
    drafts
        .iter()
        .filter(|d| d.state == "draft" && d.title.as_deref().is_some_and(|t| unescape_html(t).trim() == title.trim()))
        .filter(|d| d.created_timestamp.is_some_and(|at| at >= since))
        .map(|d| d.listing_id)
        .collect()
}

/// The few HTML escapes Etsy puts in the text it gives back.
fn unescape_html(text: &str) -> String {
    text.replace("&#39;", "'")
        .replace("&#039;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(id: u64, title: &str, created: i64) -> EtsyListing {
        EtsyListing {
            listing_id: id,
            state: "draft".into(),
            url: None,
            title: Some(title.into()),
            created_timestamp: Some(created),
        }
    }

    #[test]
    fn the_draft_made_for_a_submission_has_its_title_and_was_made_after_it_started() {
        let started = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let t = started.timestamp();
        let drafts = [
            draft(1, "Cat Mom Shirt", t - 3600),
            draft(2, "Dog Dad Shirt", t + 5),
            draft(3, "Cat Mom Shirt", t + 10),
            draft(4, "Cat Mom Shirt", t + 20),
        ];
        assert_eq!(made_for(&drafts, "Cat Mom Shirt", started), vec![3, 4], "made since the start");
        assert_eq!(made_for(&drafts, "Bird Shirt", started), Vec::<u64>::new());
        let mut active = draft(5, "Bird Shirt", t + 1);
        active.state = "active".into();
        assert_eq!(made_for(&[active], "Bird Shirt", started), Vec::<u64>::new(), "only drafts");
        // Etsy gives titles back HTML-escaped.
        let escaped = [draft(6, "Mom&#39;s &amp; Dad&#39;s Shirt", t + 3)];
        assert_eq!(made_for(&escaped, "Mom's & Dad's Shirt", started), vec![6]);
    }

    #[test]
    fn a_draft_names_the_shops_policies_and_is_made_to_order() {
        let content = ListingContent {
            title: "Cat Mom Shirt".into(),
            description: "Soft.".into(),
            tags: vec!["cat mom".into()],
            price_cents: 2499,
            currency: "USD".into(),
            ..Default::default()
        };
        let d = draft_of(&content, 482, 7, Some(9));
        assert_eq!((d.taxonomy_id, d.shipping_profile_id, d.return_policy_id), (482, Some(7), Some(9)));
        assert_eq!((d.price_cents, d.who_made), (2499, WhoMade::IDid));
        assert_eq!(d.tags, vec!["cat mom".to_owned()]);
    }
}

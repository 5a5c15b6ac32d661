//! Publishing straight to Etsy, for sellers who fulfil elsewhere: a draft
//! listing made form-encoded with the shop's shipping profile and return
//! policy (chosen when it was connected) and the product type's taxonomy,
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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pod_events::domain::listing::{ExternalKind, ListingCommand, ListingContent, ListingError, ListingPublished};
use pod_events::domain::shop::{ListingDefaults, ShopCommand};
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta, Transient};
use pod_marketplaces::etsy::api::{ApiError, EtsyApi};
use pod_marketplaces::etsy::listings::{DraftListing, EtsyListing, WhoMade};
use pod_marketplaces::etsy::tokens::{ShopTokens, TokenError};
use pod_marketplaces::etsy::{EtsyOAuth, OAuthError};
use pod_marketplaces::{EtsySettings, Keyring, Secret};
use sqlx::PgPool;

use super::limits::AppLimits;
use super::{Job, Settled, Stop, ended, failed, is_listing_url, mark_needs_reconnect, record_step};
use crate::pipeline::{Pipeline, settle, store_failure};
use crate::runtime::HandlerError;

/// How long before a run's start a draft it made may say it was made
/// (Etsy's clock against ours).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(2);

/// How long to wait when Etsy said the app's requests for the day are spent.
const DAY_SPENT_WAIT: Duration = Duration::from_secs(15 * 60);

pub struct EtsyPublisher {
    api: EtsyApi,
    tokens: ShopTokens,
    settings: EtsySettings,
    limits: AppLimits,
}

impl EtsyPublisher {
    /// `redirect` is where the app's OAuth client sends sellers back (the
    /// same as the API's; a refresh does not use it, but the client is one).
    pub fn new(settings: &EtsySettings, redirect: &str, pool: PgPool, keys: Arc<Keyring>) -> Result<Self, String> {
        let api = EtsyApi::new(settings).map_err(|e| e.to_string())?;
        let oauth = EtsyOAuth::new(settings, redirect).map_err(|e: OAuthError| e.to_string())?;
        let ahead = chrono::Duration::seconds(settings.refresh_ahead_secs.into());
        Ok(Self {
            api,
            tokens: ShopTokens::new(pool, keys, oauth, ahead),
            settings: settings.clone(),
            limits: AppLimits::new("Etsy", settings.requests_per_second, settings.requests_per_day),
        })
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
        let call = Call { publisher: self, pipeline, job, defaults, token: Mutex::new(None) };
        ended(call.run().await)
    }
}

/// One run of a submission to Etsy.
struct Call<'a> {
    publisher: &'a EtsyPublisher,
    pipeline: &'a Pipeline,
    job: &'a Job<'a>,
    defaults: ListingDefaults,
    /// The access token in use, once loaded.
    token: Mutex<Option<Secret>>,
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
            let api = &self.publisher.api;
            !self
                .call("the listing's images", |t| async move { api.listing_images(&t, listing_id).await })
                .await?
                .is_empty()
        };
        if !has_image {
            if job.artwork.is_empty() {
                return Err(Stop::Settled(failed(
                    "the artwork could not be read to upload to the Etsy draft; render the design again, then submit",
                )));
            }
            let (api, shop, png) = (&self.publisher.api, job.marketplace_shop, job.artwork);
            let alt = job.content.title.as_str();
            self.call("the image", |t| async move {
                api.upload_listing_image(&t, shop, listing_id, png.to_vec(), alt).await
            })
            .await?;
        }
        let (api, shop) = (&self.publisher.api, job.marketplace_shop);
        let active =
            self.call("the activation", |t| async move { api.activate_listing(&t, shop, listing_id).await }).await?;
        Ok(Settled::Published(ListingPublished {
            printify_product_id: None,
            etsy_listing_id: Some(active.listing_id.to_string()),
            url: active.url.filter(|u| is_listing_url(u)),
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
            let started = ListingCommand::RecordProductStarted { started_at: Utc::now() };
            self.record(started, &format!("etsy-started/{}", job.submission.number)).await?;
        }
        let (api, shop, draft) = (&self.publisher.api, job.marketplace_shop, &draft);
        let made = self.call("the draft", |t| async move { api.create_draft_listing(&t, shop, draft).await }).await?;
        let kept = self.record_listing(made.listing_id).await?;
        Ok((kept, kept == made.listing_id))
    }

    /// What Etsy is asked to draft, or why it cannot be.
    fn draft(&self) -> Result<DraftListing, Stop> {
        let job = self.job;
        let Some(taxonomy_id) = self.publisher.settings.taxonomy_for(job.product_type) else {
            return Err(Stop::Settled(failed(format!(
                "product type {:?} has no Etsy category; set marketplaces.etsy.taxonomies.{:?} to its seller taxonomy id",
                job.product_type,
                job.product_type.trim().to_lowercase()
            ))));
        };
        let Some(shipping_profile_id) = self.defaults.shipping_profile_id else {
            return Err(Stop::Settled(failed(format!(
                "shop {} had no shipping profile when it was connected; add one on Etsy, then connect the shop again",
                job.shop_id
            ))));
        };
        Ok(draft_of(job.content, taxonomy_id, shipping_profile_id, self.defaults.return_policy_id))
    }

    /// The shop's newest draft with this listing's title made since the
    /// run started, if any.
    async fn search(&self) -> Result<Option<u64>, Stop> {
        let (api, shop) = (&self.publisher.api, self.job.marketplace_shop);
        let drafts = self.call("the draft search", |t| async move { api.newest_drafts(&t, shop).await }).await?;
        Ok(made_for(&drafts, &self.job.content.title, self.job.submission.product_started_at))
    }

    /// Records the submission's Etsy listing; the one it keeps. Another
    /// run's, recorded first, stands: the draft this run made is then left
    /// a draft (Etsy keeps drafts out of the shop), and said so.
    async fn record_listing(&self, id: u64) -> Result<u64, Stop> {
        let job = self.job;
        let meta = EventMeta::caused_by(job.cause, &format!("etsy-listing/{}/{id}", job.submission.number));
        let command = ListingCommand::RecordExternalId { kind: ExternalKind::EtsyListing, id: id.to_string() };
        match self.pipeline.listings.execute(job.listing, command, &meta).await {
            Ok(_) => Ok(id),
            Err(CommandError::Rejected(ListingError::ExternalIdConflict { recorded, .. })) => {
                tracing::warn!(listing = %job.listing, kept = %recorded, extra = id, "two runs drafted on Etsy; the extra draft stays a draft");
                recorded
                    .parse()
                    .map_err(|_| Stop::Settled(failed(format!("the Etsy listing id {recorded:?} on record is no id"))))
            }
            Err(CommandError::Rejected(ListingError::WrongState(..))) => {
                Err(Stop::Settled(failed("settled by another run meanwhile")))
            }
            Err(CommandError::Rejected(e)) => {
                Err(HandlerError::permanent(format!("listing {} refused: {e}", job.listing)).into())
            }
            Err(CommandError::Conflict { .. }) => Err(HandlerError::transient("the listing kept changing").into()),
            Err(CommandError::Store(e)) => Err(store_failure(e).into()),
        }
    }

    /// One Etsy request: within the app's budgets, with a working token,
    /// tried once more with a fresh token if Etsy refuses the one sent.
    async fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T, Stop>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.token(None).await?;
        self.spend().await?;
        match request(token.clone()).await {
            Err(ApiError::Unauthorized) => {
                let fresh = self.token(Some(&token)).await?;
                self.spend().await?;
                self.outcome(request(fresh).await, what).await
            }
            other => self.outcome(other, what).await,
        }
    }

    async fn spend(&self) -> Result<(), Stop> {
        if self.publisher.api.headroom().is_some_and(|h| h.day_spent(Utc::now(), DAY_SPENT_WAIT)) {
            return Err(
                HandlerError::deferred("Etsy says the app's requests for today are spent", DAY_SPENT_WAIT).into()
            );
        }
        Ok(self.publisher.limits.request().await?)
    }

    /// The token to send: the one in use, or (after `rejected` was
    /// refused) a fresh one. A refresh is recorded on the shop.
    async fn token(&self, rejected: Option<&Secret>) -> Result<Secret, Stop> {
        let in_use = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(t), None) = (&in_use, rejected) {
            return Ok(t.clone());
        }
        let (tenant, shop) = (&self.job.listing.tenant, self.job.shop_id);
        let got = match rejected {
            None => self.publisher.tokens.access(tenant, shop).await,
            Some(r) => self.publisher.tokens.after_rejection(tenant, shop, r).await,
        };
        let access = match got {
            Ok(a) => a,
            Err(TokenError::NeedsReconnect { reason, .. }) => {
                self.shop_needs_reconnect(&format!("Etsy no longer takes the shop's tokens: {reason}")).await?;
                return Err(Stop::Settled(failed(
                    "Etsy no longer takes the shop's tokens; connect the shop again in Integrations, then submit",
                )));
            }
            Err(TokenError::NotConnected { .. }) => {
                return Err(Stop::Settled(failed(format!(
                    "shop {shop}: no Etsy tokens are kept; connect it again, then submit"
                ))));
            }
            Err(e) if e.is_transient() => return Err(HandlerError::transient(e).into()),
            Err(e) => return Err(HandlerError::of(e).into()),
        };
        if let Some(until) = access.refreshed_until {
            self.record_refresh(until).await?;
        }
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(access.token.clone());
        Ok(access.token)
    }

    /// A call's answer, or what its failure means for the submission.
    async fn outcome<T>(&self, answer: Result<T, ApiError>, what: &str) -> Result<T, Stop> {
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
            Err(ApiError::Refused { status: 404, .. }) if what != "the draft" => Err(Stop::Settled(failed(format!(
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

/// Among a shop's newest drafts, the one made for a submission: its title,
/// made since the run started (less the clocks' skew), the oldest such (the
/// first made). With no start time on record, none is taken for it.
pub fn made_for(drafts: &[EtsyListing], title: &str, started_at: Option<DateTime<Utc>>) -> Option<u64> {
    let since = (started_at? - CLOCK_SKEW).timestamp();
    drafts
        .iter()
        .filter(|d| d.state == "draft" && d.title.as_deref() == Some(title))
        .filter(|d| d.created_timestamp.is_some_and(|at| at >= since))
        .min_by_key(|d| (d.created_timestamp, d.listing_id))
        .map(|d| d.listing_id)
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
        assert_eq!(made_for(&drafts, "Cat Mom Shirt", Some(started)), Some(3), "the first made since the start");
        assert_eq!(made_for(&drafts, "Cat Mom Shirt", None), None, "no start time: nothing is taken");
        assert_eq!(made_for(&drafts, "Bird Shirt", Some(started)), None);
        let mut active = draft(5, "Bird Shirt", t + 1);
        active.state = "active".into();
        assert_eq!(made_for(&[active], "Bird Shirt", Some(started)), None, "only drafts");
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

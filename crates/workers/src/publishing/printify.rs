//! Publishing through Printify: the listing's artwork uploaded, a product
//! made from the product type's template at the listing's price, then
//! published to the shop's sales channel, which Printify does on its own
//! time; the submission settles once the product is listed there.
//!
//! Never two products for one submission: the product's id is recorded
//! the moment it is known, and before making one the shop's products are
//! searched for this submission's SKU prefix (a crash between "made" and
//! "recorded" leaves a product that is found, not made again). A publish
//! is asked for once: it is recorded, and a product Printify is already
//! publishing (locked) or has published is not asked again.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pod_events::domain::listing::{ExternalKind, ListingCommand, ListingContent, ListingError, ListingPublished};
use pod_events::{EventMeta, TenantId};
use pod_marketplaces::credentials::{self, Kind};
use pod_marketplaces::printify::catalog::{Catalog, ProductTemplate, template_for, variants_of};
use pod_marketplaces::printify::products::{
    MAX_PAGES, NewProduct, PlacedImage, Placeholder, PrintArea, Product, ProductVariant,
};
use pod_marketplaces::printify::{ApiError, PrintifyApi};
use pod_marketplaces::{Keyring, PrintifySettings, Secret};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

use super::limits::{Budget, ShopLimits};
use super::{Job, Settled, Stop, ended, failed, is_listing_url, mark_needs_reconnect, record_step};
use crate::pipeline::Pipeline;
use crate::runtime::HandlerError;
use pod_events::store::CommandError;

/// How long to wait before looking again at a product Printify publishes.
const LOOK_AGAIN: Duration = Duration::from_secs(10);

pub struct PrintifyPublisher {
    api: PrintifyApi,
    catalog: Catalog,
    templates: BTreeMap<String, ProductTemplate>,
    limits: ShopLimits,
    /// How long an unlocked, unlisted product is given after the publish
    /// request before it counts as not published.
    unlisted_after: chrono::Duration,
    pool: PgPool,
    keys: Arc<Keyring>,
}

impl PrintifyPublisher {
    pub fn new(settings: &PrintifySettings, pool: PgPool, keys: Arc<Keyring>) -> Result<Self, ApiError> {
        let api = PrintifyApi::new(settings)?;
        let limits = ShopLimits::new(
            "Printify",
            Budget { n: settings.requests_per_minute, period: Duration::from_secs(60) },
            Budget { n: settings.publishes_per_half_hour, period: Duration::from_secs(1800) },
        );
        Ok(Self {
            catalog: Catalog::new(api.clone(), Duration::from_secs(settings.catalog_ttl_secs)),
            api,
            templates: settings.templates(),
            limits,
            unlisted_after: chrono::Duration::minutes(settings.publish_deadline_mins.into()),
            pool,
            keys,
        })
    }

    /// Takes the submission as far as it can go now: settled, or an error
    /// that says when to carry on (deferred, transient).
    pub async fn publish(&self, pipeline: &Pipeline, job: &Job<'_>) -> Result<Settled, HandlerError> {
        let tenant = &job.listing.tenant;
        let token = match credentials::load(&self.pool, &self.keys, tenant, job.shop_id, Kind::ApiToken).await {
            Ok(Some(c)) => c.secret,
            Ok(None) => {
                return Ok(failed(format!("shop {}: no Printify token is kept; connect it again", job.shop_id)));
            }
            Err(e) => return Err(HandlerError::of(e)),
        };
        let call = Call { publisher: self, pipeline, job, token: &token };
        ended(call.run().await)
    }
}

/// One run of a submission through Printify.
struct Call<'a> {
    publisher: &'a PrintifyPublisher,
    pipeline: &'a Pipeline,
    job: &'a Job<'a>,
    token: &'a Secret,
}

impl Call<'_> {
    async fn run(&self) -> Result<Settled, Stop> {
        let (job, number) = (self.job, self.job.submission.number);
        let product_id = match job.submission.printify_product_id.clone() {
            Some(id) => id,
            None => {
                let (id, made) = self.find_or_make().await?;
                self.record_product(id, made).await?
            }
        };
        let requested_at = match job.submission.publish_requested_at {
            Some(at) => at,
            None => {
                let product = self.product(&product_id).await?;
                if product.external.is_none() && !product.is_locked {
                    self.spend_publish().await?;
                    self.api(
                        self.publisher.api.publish(self.token, job.marketplace_shop, &product_id),
                        "the publish request",
                    )
                    .await?;
                }
                let now = Utc::now();
                self.record(
                    ListingCommand::RecordPublishRequest { submission: number, requested_at: now },
                    &format!("printify-publish/{number}"),
                )
                .await?;
                now
            }
        };
        let product = self.product(&product_id).await?;
        settle_from(&product, requested_at, Utc::now(), self.publisher.unlisted_after)
    }

    /// Records the submission's product. Another run of the same
    /// submission (a redelivery racing a deferred copy) may have recorded
    /// its own first: that one stands, and the product this run made is
    /// deleted, so the submission keeps one.
    async fn record_product(&self, id: String, made: bool) -> Result<String, Stop> {
        let job = self.job;
        // The id is part of the command's: another run's product is another
        // command, refused as a conflict, not taken for this one repeated.
        let meta = EventMeta::caused_by(job.cause, &format!("printify-product/{}/{id}", job.submission.number));
        let submission = job.submission.number;
        let command =
            ListingCommand::RecordExternalId { submission, kind: ExternalKind::PrintifyProduct, id: id.clone() };
        match self.pipeline.listings.execute(job.listing, command, &meta).await {
            Ok(_) => Ok(id),
            Err(CommandError::Rejected(ListingError::ExternalIdConflict { recorded, .. })) => {
                if made {
                    tracing::warn!(listing = %job.listing, kept = %recorded, extra = %id, "two runs made a product; deleting the extra one");
                    self.api(
                        self.publisher.api.delete_product(self.token, job.marketplace_shop, &id),
                        "the extra product",
                    )
                    .await?;
                }
                Ok(recorded)
            }
            Err(CommandError::Rejected(e)) if e.is_submission_over() => {
                // Settled meanwhile by another run (which may have found and
                // recorded this very product), or another submission queued
                // since (whose products have SKUs of their own): a product
                // this run made that is not the one recorded is extra.
                let now = self.pipeline.listings.store().load_fresh(job.listing).await;
                let now = now.map_err(crate::pipeline::store_failure)?.aggregate;
                let recorded = now.submission.and_then(|s| s.printify_product_id);
                if made && recorded.as_deref() != Some(id.as_str()) {
                    self.api(
                        self.publisher.api.delete_product(self.token, job.marketplace_shop, &id),
                        "the extra product",
                    )
                    .await?;
                }
                // Recording a failure now is refused as already settled.
                Err(Stop::Settled(failed("settled by another run meanwhile")))
            }
            Err(CommandError::Rejected(e)) => {
                Err(HandlerError::permanent(format!("listing {} refused: {e}", job.listing)).into())
            }
            Err(CommandError::Conflict { .. }) => Err(HandlerError::transient("the listing kept changing").into()),
            Err(CommandError::Store(e)) => Err(crate::pipeline::store_failure(e).into()),
        }
    }

    /// The product already made for this submission (found, not made), or
    /// a new one (made).
    async fn find_or_make(&self) -> Result<(String, bool), Stop> {
        let job = self.job;
        let prefix = sku_prefix(&job.listing.tenant, job.listing.id, job.submission.number);
        // Only a run that may have made the product already has to look.
        if job.submission.product_started
            && let Some(id) = self.search(&prefix).await?
        {
            tracing::info!(listing = %job.listing, product = %id, "found the product made before a restart");
            return Ok((id, false));
        }
        let Some(template) = template_for(&self.publisher.templates, job.product_type) else {
            return Err(Stop::Settled(failed(format!(
                "product type {:?} has no Printify template; set marketplaces.printify.products.{:?}",
                job.product_type,
                job.product_type.trim().to_lowercase()
            ))));
        };
        self.spend().await?;
        let read = self.publisher.catalog.variants(self.token, template.blueprint_id, template.print_provider_id).await;
        if let Err(ApiError::Refused { status: 404, .. }) = read {
            return Err(Stop::Settled(failed(format!(
                "Printify's catalog has no blueprint {} at print provider {} for {:?}; fix marketplaces.printify.products.{:?}",
                template.blueprint_id,
                template.print_provider_id,
                job.product_type,
                job.product_type.trim().to_lowercase()
            ))));
        }
        let offered = self.outcome(read, "the catalog").await?;
        let variants = variants_of(template, &offered);
        if variants.is_empty() {
            return Err(Stop::Settled(failed(format!(
                "Printify offers none of the variants set for {:?} (blueprint {} at print provider {})",
                job.product_type, template.blueprint_id, template.print_provider_id
            ))));
        }
        if !job.submission.product_started {
            let started =
                ListingCommand::RecordProductStarted { submission: job.submission.number, started_at: Utc::now() };
            self.record(started, &format!("printify-started/{}", job.submission.number)).await?;
        }
        self.spend().await?;
        let file_name = format!("{}-{}.png", job.listing.id.simple(), job.submission.number);
        let upload =
            self.api(self.publisher.api.upload_image(self.token, &file_name, job.artwork), "the artwork").await?;
        let new = new_product(job.content, template, &variants, &upload.id, &prefix);
        self.spend().await?;
        let made =
            self.api(self.publisher.api.create_product(self.token, job.marketplace_shop, &new), "the product").await?;
        Ok((made.id, true))
    }

    /// The shop's product with this SKU prefix, page by page, each page a
    /// request of the budget.
    async fn search(&self, prefix: &str) -> Result<Option<String>, Stop> {
        for page in 1..=MAX_PAGES {
            self.spend().await?;
            let found = self
                .api(
                    self.publisher.api.products_page(self.token, self.job.marketplace_shop, page),
                    "the product search",
                )
                .await?;
            let last = found.is_last();
            if let Some(p) = found.with_sku_prefix(prefix) {
                return Ok(Some(p.id));
            }
            if last {
                break;
            }
        }
        Ok(None)
    }

    async fn product(&self, id: &str) -> Result<Product, Stop> {
        self.spend().await?;
        match self.publisher.api.product(self.token, self.job.marketplace_shop, id).await {
            Err(ApiError::Refused { status: 404, .. }) => Err(Stop::Settled(failed(format!(
                "the Printify product {id} made for this listing was deleted on Printify; submit again to make another"
            )))),
            other => self.outcome(other, "the product").await,
        }
    }

    async fn spend(&self) -> Result<(), Stop> {
        Ok(self.publisher.limits.request(&self.job.listing.tenant, self.job.shop_id).await?)
    }

    /// A request and a publish: the request first, so a deferral for
    /// requests does not waste a publish.
    async fn spend_publish(&self) -> Result<(), Stop> {
        self.spend().await?;
        Ok(self.publisher.limits.publish(&self.job.listing.tenant, self.job.shop_id).await?)
    }

    async fn api<T>(&self, call: impl Future<Output = Result<T, ApiError>>, what: &str) -> Result<T, Stop> {
        self.outcome(call.await, what).await
    }

    /// A call's answer, or what its failure means for the submission.
    async fn outcome<T>(&self, answer: Result<T, ApiError>, what: &str) -> Result<T, Stop> {
        match answer {
            Ok(v) => Ok(v),
            Err(ApiError::RateLimited(wait)) => {
                Err(HandlerError::deferred(format!("Printify is rate limiting shop {}", self.job.shop_id), wait).into())
            }
            Err(e @ ApiError::Unavailable(_)) => Err(HandlerError::transient(e).into()),
            Err(ApiError::Unauthorized) => {
                self.shop_needs_reconnect().await?;
                Err(Stop::Settled(failed("Printify refused the shop's token; connect the shop again, then submit")))
            }
            Err(ApiError::Refused { status, message }) => {
                Err(Stop::Settled(failed(format!("Printify refused {what} ({status}): {message}"))))
            }
            Err(e @ ApiError::Settings { .. }) => Err(HandlerError::permanent(e).into()),
        }
    }

    async fn shop_needs_reconnect(&self) -> Result<(), Stop> {
        let job = self.job;
        let step = format!("printify-token-refused/{}", job.submission.number);
        let why = "Printify refused the shop's token";
        mark_needs_reconnect(self.pipeline, job.listing, job.shop_id, job.cause, &step, why).await
    }

    async fn record(&self, command: ListingCommand, step: &str) -> Result<(), Stop> {
        record_step(self.pipeline, self.job.listing, self.job.cause, command, step).await
    }
}

/// The SKU prefix of a submission's variants: `pod-` and 16 hex digits of
/// a hash of the tenant, listing and submission number, so it is the same
/// on every retry and no other submission's (of any tenant) shares it.
pub fn sku_prefix(tenant: &TenantId, listing: Uuid, submission: u32) -> String {
    let digest = Sha256::digest(format!("{tenant}/{listing}/{submission}").as_bytes());
    format!("pod-{}-", &hex::encode(digest)[..16])
}

/// The product for the listing: its text, the template's blueprint and
/// variants at the listing's price, and the artwork centred on the print
/// area.
pub fn new_product(
    content: &ListingContent,
    template: &ProductTemplate,
    variants: &[u64],
    upload_id: &str,
    sku_prefix: &str,
) -> NewProduct {
    NewProduct {
        title: content.title.clone(),
        description: description_html(&content.description),
        tags: content.tags.clone(),
        blueprint_id: template.blueprint_id,
        print_provider_id: template.print_provider_id,
        variants: variants
            .iter()
            .map(|&id| ProductVariant {
                id,
                price: content.price_cents,
                is_enabled: true,
                sku: format!("{sku_prefix}{id}"),
            })
            .collect(),
        print_areas: vec![PrintArea {
            variant_ids: variants.to_vec(),
            placeholders: vec![Placeholder {
                position: template.position.clone(),
                images: vec![PlacedImage { id: upload_id.to_owned(), x: 0.5, y: 0.5, scale: 1.0, angle: 0 }],
            }],
        }],
    }
}

/// Printify shows descriptions as HTML: the plain text escaped, its
/// paragraphs (blank-line separated) as `<p>`, its line breaks as `<br>`.
pub fn description_html(text: &str) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", p.lines().map(escape).collect::<Vec<_>>().join("<br>")))
        .collect()
}

/// Where a product stands after the publish was asked for, as Printify
/// tells it: listed (`external` set: the channel's `publishing_succeeded`)
/// is published; locked is still publishing (look again later); unlocked
/// and unlisted once `unlisted_after` has passed since the request
/// (`publishing_failed`, or the publish cancelled on Printify) is failed
/// back to the editor.
fn settle_from(
    product: &Product,
    requested_at: DateTime<Utc>,
    now: DateTime<Utc>,
    unlisted_after: chrono::Duration,
) -> Result<Settled, Stop> {
    if let Some(external) = &product.external {
        let url = Some(external.handle.clone()).filter(|h| is_listing_url(h));
        let etsy_listing_id = url
            .as_deref()
            .filter(|u| u.contains("etsy.com/"))
            .and_then(|_| Some(external.id.clone()).filter(|id| pod_marketplaces::printify::is_id(id)));
        return Ok(Settled::Published(ListingPublished {
            printify_product_id: Some(product.id.clone()),
            etsy_listing_id,
            url,
            dry_run: false,
        }));
    }
    // Printify still at it (locked) is waited for however long it takes:
    // the product may yet go on sale, and failing it now would lose track.
    if !product.is_locked && now - requested_at >= unlisted_after {
        return Err(Stop::Settled(failed(format!(
            "Printify stopped publishing product {} without listing it: its sales channel refused it, or the publish \
             was cancelled; Printify shows why on the product. Fix it there or here, then submit again",
            product.id
        ))));
    }
    Err(HandlerError::deferred(format!("Printify is publishing product {}", product.id), LOOK_AGAIN).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pod_events::domain::listing::ListingPublishFailed;
    use pod_marketplaces::printify::catalog::default_templates;
    use pod_marketplaces::printify::products::External;

    fn product(external: Option<External>) -> Product {
        Product { id: "p1".into(), title: "t".into(), variants: vec![], external, is_locked: false }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn sku_prefixes_are_stable_and_scoped_by_tenant_listing_and_submission() {
        let acme = TenantId::parse("acme".to_owned()).unwrap();
        let globex = TenantId::parse("globex".to_owned()).unwrap();
        let l = Uuid::from_u128(5);
        assert_eq!(sku_prefix(&acme, l, 1), sku_prefix(&acme, l, 1));
        assert_ne!(sku_prefix(&acme, l, 1), sku_prefix(&globex, l, 1));
        assert_ne!(sku_prefix(&acme, l, 1), sku_prefix(&acme, l, 2));
        assert!(sku_prefix(&acme, l, 1).starts_with("pod-") && sku_prefix(&acme, l, 1).len() == 21);
    }

    #[test]
    fn a_product_sells_every_variant_at_the_listings_price_with_the_artwork_centred() {
        let content = ListingContent {
            title: "Cat Mom Shirt".into(),
            description: "Soft.\n\nWashes <well> & lasts.".into(),
            tags: vec!["cat mom".into()],
            price_cents: 2499,
            currency: "USD".into(),
            ..Default::default()
        };
        let p = new_product(&content, &default_templates()["t-shirt"], &[12100, 12101], "up1", "pod-ab-");
        assert_eq!((p.blueprint_id, p.print_provider_id), (6, 99));
        assert_eq!(
            p.variants.iter().map(|v| (v.price, v.sku.as_str())).collect::<Vec<_>>(),
            vec![(2499, "pod-ab-12100"), (2499, "pod-ab-12101")]
        );
        assert_eq!(p.print_areas[0].variant_ids, vec![12100, 12101]);
        assert_eq!(p.print_areas[0].placeholders[0].position, "front");
        assert_eq!(p.description, "<p>Soft.</p><p>Washes &lt;well&gt; &amp; lasts.</p>");
    }

    #[test]
    fn a_listed_product_is_published_with_its_etsy_listing() {
        let listed = product(Some(External { id: "1234".into(), handle: "https://www.etsy.com/listing/1234".into() }));
        let Ok(Settled::Published(p)) = settle_from(&listed, at(0), at(5), chrono::Duration::minutes(30)) else {
            panic!("expected published");
        };
        assert_eq!(p.printify_product_id.as_deref(), Some("p1"));
        assert_eq!(p.etsy_listing_id.as_deref(), Some("1234"));
        assert_eq!(p.url.as_deref(), Some("https://www.etsy.com/listing/1234"));
    }

    #[test]
    fn a_handle_that_is_no_https_link_is_not_linked() {
        let odd = product(Some(External { id: "1".into(), handle: "javascript:alert(1)".into() }));
        let Ok(Settled::Published(p)) = settle_from(&odd, at(0), at(5), chrono::Duration::minutes(30)) else {
            panic!("expected published");
        };
        assert_eq!((p.url, p.etsy_listing_id), (None, None));
    }

    #[test]
    fn a_locked_product_is_waited_for_and_an_unlocked_unlisted_one_fails_after_its_grace() {
        let grace = chrono::Duration::minutes(2);
        let locked = Product { is_locked: true, ..product(None) };
        for later in [60, 3 * 60, 24 * 3600] {
            assert!(
                matches!(
                    settle_from(&locked, at(0), at(later), grace),
                    Err(Stop::Handler(HandlerError::Deferred { .. }))
                ),
                "locked, {later} s on: still publishing"
            );
        }
        assert!(matches!(
            settle_from(&product(None), at(0), at(60), grace),
            Err(Stop::Handler(HandlerError::Deferred { .. }))
        ));
        assert!(matches!(
            settle_from(&product(None), at(0), at(2 * 60), grace),
            Err(Stop::Settled(Settled::Failed(ListingPublishFailed { retryable: false, .. })))
        ));
    }
}

//! `listings` and `listing_revisions`: every listing's current text, price
//! and state, and the history of its edits.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::listing::{ExternalKind, ListingEvent};
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode, uuid_of};

pub struct Listings;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let id = uuid_of(e)?;
        let at = e.occurred_at;
        let v = e.aggregate_seq as i64;
        let event = decode::<ListingEvent>(e)?;
        let name = event.name();
        let q = match event {
            ListingEvent::ListingDrafted(d) => sqlx::query(
                "INSERT INTO listings (tenant, listing_id, idea_id, design_id, title, description, tags,
                                       price_cents, currency, seo_score, seo_checks, verdict, screening_hits, status,
                                       created_at, updated_at, version)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$13,$14,$15,'draft',$11,$11,$12)",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(d.idea_id)
            .bind(d.design_id)
            .bind(d.title)
            .bind(d.description)
            .bind(d.tags)
            .bind(d.price_cents as i64)
            .bind(d.currency)
            .bind(d.seo_score as i32)
            .bind(at)
            .bind(v)
            .bind(sqlx::types::Json(d.seo_checks))
            .bind(d.screening.as_ref().map(|s| s.verdict.as_str()))
            .bind(sqlx::types::Json(d.screening.map(|s| s.hits).unwrap_or_default())),
            ListingEvent::ListingRevised(r) => sqlx::query(
                "UPDATE listings SET title = coalesce($3, title), description = coalesce($4, description),
                        tags = coalesce($5, tags), price_cents = coalesce($6, price_cents), seo_score = $7,
                        seo_checks = CASE WHEN $10 THEN $11 ELSE seo_checks END, status = 'draft', revisions = revisions + 1, updated_at = $8, version = $9
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(r.title)
            .bind(r.description)
            .bind(r.tags)
            .bind(r.price_cents.map(|p| p as i64))
            .bind(r.seo_score as i32)
            .bind(at)
            .bind(v)
            .bind(!r.seo_checks.is_empty())
            .bind(sqlx::types::Json(r.seo_checks)),
            ListingEvent::ListingApproved(_) => sqlx::query(
                "UPDATE listings SET status = 'approved', publish_error = NULL, submitted_at = NULL, published_at = NULL,
                        updated_at = $3, version = $4
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(v),
            ListingEvent::ListingSubmitted(s) => sqlx::query(
                "UPDATE listings SET status = 'queued', shop_id = $3, dry_run = $4, publish_error = NULL,
                        publish_step = NULL, printify_product_id = NULL, etsy_listing_id = NULL, url = NULL,
                        submitted_at = $5, published_at = NULL, updated_at = $5, version = $6
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(s.shop_id)
            .bind(s.dry_run)
            .bind(at)
            .bind(v),
            ListingEvent::ListingPublished(p) => sqlx::query(
                "UPDATE listings SET status = 'published', publish_step = NULL, marketplace_state = NULL,
                        printify_product_id = COALESCE($3, printify_product_id),
                        etsy_listing_id = COALESCE($4, etsy_listing_id), url = $5,
                        publish_error = NULL, published_at = $6, updated_at = $6, version = $7
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(p.printify_product_id)
            .bind(p.etsy_listing_id)
            .bind(p.url)
            .bind(at)
            .bind(v),
            ListingEvent::ListingPublishFailed(f) => sqlx::query(
                "UPDATE listings SET publish_error = $3,
                        status = CASE WHEN $4 THEN status ELSE 'draft' END,
                        publish_step = CASE WHEN $4 THEN publish_step END, updated_at = $5, version = $6
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(f.reason)
            .bind(f.retryable)
            .bind(at)
            .bind(v),
            ListingEvent::ListingExternalIdRecorded(x) => {
                let column = match x.kind {
                    ExternalKind::PrintifyProduct => "printify_product_id",
                    ExternalKind::EtsyListing => "etsy_listing_id",
                };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE listings SET {column} = $3, publish_step = COALESCE(publish_step, 'product_made'),
                            updated_at = $4, version = $5
                     WHERE tenant = $1 AND listing_id = $2"
                )))
                .bind(&e.tenant)
                .bind(id)
                .bind(x.id)
                .bind(at)
                .bind(v)
            }
            ListingEvent::ListingProductStarted(_) => sqlx::query(
                "UPDATE listings SET updated_at = $3, version = $4 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(v),
            ListingEvent::ListingMarketplaceStateChanged(m) => sqlx::query(
                "UPDATE listings SET marketplace_state = $3, updated_at = $4, version = $5
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(Some(m.state.name()).filter(|s| *s != "active"))
            .bind(at)
            .bind(v),
            ListingEvent::ListingPublishRequested(_) => sqlx::query(
                "UPDATE listings SET publish_step = 'publish_requested', updated_at = $3, version = $4
                 WHERE tenant = $1 AND listing_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(v),
        };
        q.execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO listing_revisions (tenant, listing_id, version, event_type, changes, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&e.tenant)
        .bind(id)
        .bind(v)
        .bind(name)
        .bind(&e.payload)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

impl Projection for Listings {
    fn name(&self) -> &'static str {
        "listings"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["listing"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["listings", "listing_revisions"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}

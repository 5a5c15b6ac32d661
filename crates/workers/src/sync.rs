//! Sync: what happens on Etsy comes back, polled per connected Etsy shop
//! (Etsy calls no webhooks for a seller's app).
//!
//! - **Receipts.** The shop's receipts changed since its cursor (Etsy's
//!   `min_last_modified`, kept in `marketplace_sync`) become Order events:
//!   received with line items and currency, paid with Etsy's fees, each
//!   parcel shipped, or cancelled. Each command's id derives from the
//!   receipt and what it says, and the Order itself takes nothing twice, so
//!   a receipt read again (a retry, the cursor's own second, a restart)
//!   changes nothing. The cursor moves only once a page is recorded. A sale
//!   of a listing published through Printify is Printify's order (its
//!   webhook records it): such receipts are not counted again.
//! - **Drift.** The shop's published listings are looked up on Etsy; one
//!   deactivated, sold out, expired or deleted there (or for sale again) is
//!   recorded on its Listing.
//!
//! A shop is synced by one process at a time (a Postgres advisory lock);
//! one shop's failure is recorded on its row and never stops another's.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pod_events::domain::listing::{ListingCommand, ListingError, MarketplaceState};
use pod_events::domain::order::{OrderCommand, OrderError};
use pod_events::domain::shop::ShopCommand;
use pod_events::domain::text::{Note, note};
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_marketplaces::etsy::receipts::{self, RECEIPTS_PAGE, Receipt};
use sqlx::PgPool;
use uuid::Uuid;

use crate::etsy_session::{EtsyApp, Session, SessionError};
use crate::pipeline::Pipeline;

/// Pages of receipts one sync reads at most (the rest wait for the next).
const MAX_PAGES: u32 = 50;

/// A connected Etsy shop to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtsyShop {
    pub tenant: TenantId,
    pub shop_id: Uuid,
    /// Its id at Etsy.
    pub etsy_shop: u64,
}

/// What one sync of a shop did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Another process was syncing the shop: nothing done.
    pub busy: bool,
    pub receipts: usize,
    /// Receipts of listings published through Printify, left to its webhook.
    pub left_to_printify: usize,
    pub listings_checked: usize,
    pub listings_changed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the sync's database: {0}")]
    Store(#[from] sqlx::Error),
    #[error("Etsy: {0}")]
    Etsy(#[from] SessionError),
    #[error("recording: {0}")]
    Record(String),
}

pub struct EtsySync {
    pipeline: Arc<Pipeline>,
    pool: PgPool,
    app: EtsyApp,
}

impl EtsySync {
    pub fn new(pipeline: Arc<Pipeline>, pool: PgPool, app: EtsyApp) -> Self {
        Self { pipeline, pool, app }
    }

    /// Syncs every shop that is due, every little while, until `shutdown`.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) {
        let every = Duration::from_secs(self.app.settings.sync_every_secs.max(10).into());
        let tick = every.min(Duration::from_secs(30));
        tokio::pin!(shutdown);
        tracing::info!(every_secs = every.as_secs(), "sync started");
        loop {
            match self.due(every).await {
                Ok(shops) => {
                    for shop in shops {
                        self.sync_and_note(&shop).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing the shops to sync"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(tick) => {}
            }
        }
        tracing::info!("sync stopped");
    }

    /// Connected Etsy shops not synced for `every`, the longest waiting first.
    pub async fn due(&self, every: Duration) -> Result<Vec<EtsyShop>, sqlx::Error> {
        let rows: Vec<(TenantId, Uuid, String)> = sqlx::query_as(
            "SELECT s.tenant, s.shop_id, s.external_shop_id FROM shops s
             LEFT JOIN marketplace_sync m ON m.tenant = s.tenant AND m.shop_id = s.shop_id
             WHERE s.marketplace = 'etsy' AND s.connected AND NOT s.needs_reconnect
               AND (m.receipts_synced_at IS NULL OR m.receipts_synced_at < now() - make_interval(secs => $1))
               AND (m.last_error_at IS NULL OR m.last_error_at < now() - make_interval(secs => $1))
             ORDER BY m.receipts_synced_at NULLS FIRST LIMIT 100",
        )
        .bind(every.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(tenant, shop_id, external)| {
                Some(EtsyShop { tenant, shop_id, etsy_shop: external.parse().ok()? })
            })
            .collect())
    }

    /// Syncs a shop; a failure is logged and kept on its row.
    pub async fn sync_and_note(&self, shop: &EtsyShop) -> Option<Synced> {
        match self.sync_shop(shop).await {
            Ok(done) => Some(done),
            Err(e) => {
                tracing::warn!(tenant = %shop.tenant, shop = %shop.shop_id, error = %e, "sync failed");
                let kept = sqlx::query(
                    "INSERT INTO marketplace_sync (tenant, shop_id, last_error, last_error_at) VALUES ($1, $2, $3, now())
                     ON CONFLICT (tenant, shop_id) DO UPDATE SET last_error = $3, last_error_at = now()",
                )
                .bind(&shop.tenant)
                .bind(shop.shop_id)
                .bind(note(&e.to_string()))
                .execute(&self.pool)
                .await;
                if let Err(e) = kept {
                    tracing::warn!(error = %e, "keeping the sync's failure");
                }
                None
            }
        }
    }

    /// One sync of one shop: its receipts since the cursor, then its
    /// published listings' states.
    pub async fn sync_shop(&self, shop: &EtsyShop) -> Result<Synced, SyncError> {
        let mut lock = self.pool.begin().await?;
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("pod/etsy-sync/{}/{}", shop.tenant, shop.shop_id))
            .fetch_one(&mut *lock)
            .await?;
        if !held {
            return Ok(Synced { busy: true, ..Synced::default() });
        }
        let session = self.app.session(&shop.tenant, shop.shop_id);
        let done = self.sync_with(shop, &session).await;
        if let Some(until) = session.take_refresh() {
            let meta = EventMeta::with_command_id(format!(
                "etsy-sync-refresh/{}/{}/{}",
                shop.tenant,
                shop.shop_id,
                until.timestamp()
            ));
            let id = AggregateId::new(shop.tenant.clone(), shop.shop_id);
            let command = ShopCommand::RecordTokenRefresh { token_expires_at: until };
            if let Err(e) = self.pipeline.shops.execute(&id, command, &meta).await {
                tracing::warn!(shop = %shop.shop_id, error = %e, "recording a token refresh");
            }
        }
        if let Err(SyncError::Etsy(SessionError::NeedsReconnect(why))) = &done {
            self.needs_reconnect(shop, why).await;
        }
        lock.rollback().await?;
        done
    }

    async fn sync_with(&self, shop: &EtsyShop, session: &Session<'_>) -> Result<Synced, SyncError> {
        let mut done = Synced::default();
        let first = Utc::now() - chrono::Duration::days(self.app.settings.first_sync_days.into());
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT receipts_cursor FROM marketplace_sync WHERE tenant = $1 AND shop_id = $2")
                .bind(&shop.tenant)
                .bind(shop.shop_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten();
        let since = cursor.unwrap_or(first.timestamp()).max(946_684_800);
        let api = &self.app.api;
        let mut next = since;
        for page in 0..MAX_PAGES {
            let offset = page * RECEIPTS_PAGE;
            let etsy_shop = shop.etsy_shop;
            let receipts =
                session.call(|t| async move { api.receipts_changed_since(&t, etsy_shop, since, offset).await }).await?;
            for receipt in &receipts {
                if self.record_receipt(shop, session, receipt).await? {
                    done.receipts += 1;
                } else {
                    done.left_to_printify += 1;
                }
                next = next.max(receipt.updated_timestamp);
            }
            // Recorded up to here: the next sync starts from the last change
            // seen (its own second again: read twice, recorded once).
            self.keep_cursor(shop, next).await?;
            if receipts.len() < RECEIPTS_PAGE as usize {
                break;
            }
        }
        let (checked, changed) = self.drift(shop, session).await?;
        (done.listings_checked, done.listings_changed) = (checked, changed);
        sqlx::query(
            "INSERT INTO marketplace_sync (tenant, shop_id, receipts_cursor, receipts_synced_at, listings_synced_at)
             VALUES ($1, $2, $3, now(), now())
             ON CONFLICT (tenant, shop_id) DO UPDATE SET receipts_synced_at = now(), listings_synced_at = now(),
                 last_error = NULL, last_error_at = NULL",
        )
        .bind(&shop.tenant)
        .bind(shop.shop_id)
        .bind(next)
        .execute(&self.pool)
        .await?;
        Ok(done)
    }

    async fn keep_cursor(&self, shop: &EtsyShop, cursor: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO marketplace_sync (tenant, shop_id, receipts_cursor) VALUES ($1, $2, $3)
             ON CONFLICT (tenant, shop_id) DO UPDATE SET receipts_cursor = GREATEST(marketplace_sync.receipts_cursor, $3)",
        )
        .bind(&shop.tenant)
        .bind(shop.shop_id)
        .bind(cursor)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a receipt as an Order; false when it is Printify's to record.
    async fn record_receipt(
        &self,
        shop: &EtsyShop,
        session: &Session<'_>,
        receipt: &Receipt,
    ) -> Result<bool, SyncError> {
        let mut received = match receipts::received(shop.shop_id, receipt) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(tenant = %shop.tenant, shop = %shop.shop_id, error = %e, "Etsy receipt not recorded");
                return Ok(true);
            }
        };
        let ids: Vec<String> = received.line_items.iter().map(|l| l.external_listing_id.clone()).collect();
        let ours: Vec<(String, Uuid, bool)> = sqlx::query_as(
            "SELECT etsy_listing_id, listing_id, printify_product_id IS NOT NULL FROM listings
             WHERE tenant = $1 AND etsy_listing_id = ANY($2)",
        )
        .bind(&shop.tenant)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let through_printify = |id: &str| ours.iter().any(|(e, _, printify)| e == id && *printify);
        if !ids.is_empty() && ids.iter().all(|id| through_printify(id)) {
            return Ok(false);
        }
        for line in &mut received.line_items {
            line.listing_id = ours.iter().find(|(e, _, _)| *e == line.external_listing_id).map(|(_, l, _)| *l);
        }
        let fees = if receipts::paid(receipt, None).is_some() {
            let (api, etsy_shop, receipt_id) = (&self.app.api, shop.etsy_shop, receipt.receipt_id);
            let payments =
                session.call(|t| async move { api.receipt_payments(&t, etsy_shop, receipt_id).await }).await?;
            payments.into_iter().next().map(|p| p.amount_fees)
        } else {
            None
        };
        let id = AggregateId::derived(
            shop.tenant.clone(),
            "order",
            &format!("etsy/{}/{}", shop.shop_id, receipt.receipt_id),
        );
        let step = |what: String| {
            EventMeta::with_command_id(format!(
                "etsy-receipt/{}/{}/{}/{what}",
                shop.tenant, shop.shop_id, receipt.receipt_id
            ))
        };
        let mut commands = vec![(step("receive".into()), OrderCommand::Receive(received))];
        if receipts::is_cancelled(receipt) {
            commands.push((step("cancel".into()), OrderCommand::Cancel { reason: "cancelled on Etsy".into() }));
        } else if let Some(p) = receipts::paid(receipt, fees.as_ref()) {
            let what = format!("pay/{}/{:?}", p.amount_cents, p.fees_cents);
            commands.push((step(what), OrderCommand::RecordPayment(p)));
        }
        for parcel in receipts::shipments(receipt) {
            commands.push((step(format!("ship/{}", parcel.tracking_ref)), OrderCommand::RecordShipment(parcel)));
        }
        for (meta, command) in commands {
            match self.pipeline.orders.execute(&id, command, &meta).await {
                Ok(_) | Err(CommandError::Rejected(OrderError::AlreadyReceived | OrderError::Closed(_))) => {}
                Err(e) => return Err(SyncError::Record(format!("order {id}: {e}"))),
            }
        }
        Ok(true)
    }

    /// Looks up the shop's published listings on Etsy and records each one
    /// whose state there changed: (checked, changed).
    async fn drift(&self, shop: &EtsyShop, session: &Session<'_>) -> Result<(usize, usize), SyncError> {
        let published: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT listing_id, etsy_listing_id FROM listings
             WHERE tenant = $1 AND shop_id = $2 AND status = 'published' AND etsy_listing_id IS NOT NULL",
        )
        .bind(&shop.tenant)
        .bind(shop.shop_id)
        .fetch_all(&self.pool)
        .await?;
        let with_ids: Vec<(Uuid, u64)> =
            published.into_iter().filter_map(|(l, e)| Some((l, e.parse::<u64>().ok()?))).collect();
        let (mut checked, mut changed) = (0, 0);
        for chunk in with_ids.chunks(100) {
            let ids: Vec<u64> = chunk.iter().map(|(_, e)| *e).collect();
            let api = &self.app.api;
            let ids_ref = &ids;
            let found = session.call(|t| async move { api.listings_by_ids(&t, ids_ref).await }).await?;
            for (listing, etsy_id) in chunk {
                let state = match found.iter().find(|f| f.listing_id == *etsy_id) {
                    None => MarketplaceState::Removed,
                    Some(f) => match MarketplaceState::from_etsy(&f.state) {
                        Some(s) => s,
                        None => continue,
                    },
                };
                checked += 1;
                let id = AggregateId::new(shop.tenant.clone(), *listing);
                let command = ListingCommand::RecordMarketplaceState { state };
                match self.pipeline.listings.execute(&id, command, &EventMeta::new_command()).await {
                    Ok(pod_events::store::Outcome::Committed { .. }) => changed += 1,
                    Ok(_) | Err(CommandError::Rejected(ListingError::WrongState(..))) => {}
                    Err(e) => return Err(SyncError::Record(format!("listing {id}: {e}"))),
                }
            }
        }
        Ok((checked, changed))
    }

    async fn needs_reconnect(&self, shop: &EtsyShop, why: &str) {
        let id = AggregateId::new(shop.tenant.clone(), shop.shop_id);
        let Ok(reason) = Note::parse(&note(&format!("Etsy no longer takes the shop's tokens: {why}"))) else { return };
        let meta = EventMeta::new_command();
        match self.pipeline.shops.execute(&id, ShopCommand::MarkNeedsReconnect { reason }, &meta).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(shop = %shop.shop_id, error = %e, "marking the shop for reconnecting"),
        }
    }
}

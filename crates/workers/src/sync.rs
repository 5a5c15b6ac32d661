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
//!   webhook records it): such lines are left out of the receipt's order,
//!   their price out of its figures, and a receipt of only such lines is
//!   left to Printify whole, so no sale is counted twice.
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
use pod_events::domain::order::{LineItem, OrderCommand, OrderError, OrderReceived};
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

/// How far back of the last change seen the next sync starts reading.
const CURSOR_MARGIN_SECS: i64 = 300;

/// How far ahead of our clock a receipt's time is believed.
const CLOCK_ALLOWANCE: i64 = 60;

/// What became of a receipt.
enum Recorded {
    Order,
    /// Every line is of a listing published through Printify: its order.
    LeftToPrintify,
    /// Its figures cannot be believed: why.
    Unusable(String),
}

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
    /// Receipts not recorded, and why (kept as the shop's health).
    pub unusable: Vec<String>,
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
        let session = self.app.sync_session(&shop.tenant, shop.shop_id);
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
        if let Err(e) = lock.rollback().await {
            tracing::warn!(shop = %shop.shop_id, error = %e, "releasing the sync lock (it goes with the connection)");
        }
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
        // Read from the last change seen, not by offset from the start: a
        // receipt that changes during the read moves to the end instead of
        // shifting an unread one before the next page. The offset is used
        // only within one second that fills a whole page.
        let (api, etsy_shop) = (&self.app.api, shop.etsy_shop);
        let ceiling = Utc::now().timestamp() + CLOCK_ALLOWANCE;
        let (mut from, mut offset, mut next) = (since, 0u32, since);
        let mut seen = std::collections::HashSet::new();
        let mut read = Ok(());
        for _ in 0..MAX_PAGES {
            let page = match session
                .call(|t| async move { api.receipts_changed_since(&t, etsy_shop, from, offset).await })
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    read = Err(SyncError::from(e));
                    break;
                }
            };
            for raw in &page {
                let updated = raw["updated_timestamp"].as_i64().unwrap_or(from);
                if !seen.insert((raw["receipt_id"].as_u64(), updated)) {
                    continue;
                }
                match receipts::read(raw) {
                    Ok(receipt) => match self.record_receipt(shop, session, &receipt).await? {
                        Recorded::Order => done.receipts += 1,
                        Recorded::LeftToPrintify => done.left_to_printify += 1,
                        Recorded::Unusable(why) => done.unusable.push(why),
                    },
                    Err(why) => done.unusable.push(why.to_string()),
                }
                // A date from the future (bad data, a clock) must not carry
                // the cursor past the orders still to come.
                next = next.max(updated.min(ceiling));
            }
            // Recorded up to here; the next sync reads the last few minutes
            // again (a receipt Etsy shows late), recording only what is new.
            self.keep_cursor(shop, next - CURSOR_MARGIN_SECS).await?;
            if page.len() < RECEIPTS_PAGE as usize {
                break;
            }
            let last = page.last().and_then(|r| r["updated_timestamp"].as_i64()).unwrap_or(from);
            if last <= from {
                offset += RECEIPTS_PAGE;
            } else {
                (from, offset) = (last, 0);
            }
        }
        for why in &done.unusable {
            tracing::warn!(tenant = %shop.tenant, shop = %shop.shop_id, "Etsy receipt not recorded: {why}");
        }
        // The listings are looked at even when the receipts could not be read.
        let (checked, changed) = self.drift(shop, session).await?;
        (done.listings_checked, done.listings_changed) = (checked, changed);
        read?;
        sqlx::query(
            "INSERT INTO marketplace_sync (tenant, shop_id, receipts_cursor, receipts_synced_at, listings_synced_at)
             VALUES ($1, $2, $3, now(), now())
             ON CONFLICT (tenant, shop_id) DO UPDATE SET receipts_synced_at = now(), listings_synced_at = now(),
                 last_error = $4, last_error_at = CASE WHEN $4 IS NULL THEN NULL ELSE now() END",
        )
        .bind(&shop.tenant)
        .bind(shop.shop_id)
        .bind(next - CURSOR_MARGIN_SECS)
        .bind(done.unusable.last().map(|why| note(&format!("{} receipt(s) not recorded: {why}", done.unusable.len()))))
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

    /// Records a receipt as an Order (what of it is new).
    async fn record_receipt(
        &self,
        shop: &EtsyShop,
        session: &Session<'_>,
        receipt: &Receipt,
    ) -> Result<Recorded, SyncError> {
        let mut received = match receipts::received(shop.shop_id, receipt) {
            Ok(r) => r,
            Err(e) => return Ok(Recorded::Unusable(e.to_string())),
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
        let Some(printify_cents) = leave_to_printify(&mut received, through_printify) else {
            return Ok(Recorded::LeftToPrintify);
        };
        for line in &mut received.line_items {
            line.listing_id = ours.iter().find(|(e, _, _)| *e == line.external_listing_id).map(|(_, l, _)| *l);
        }
        let id = AggregateId::derived(
            shop.tenant.clone(),
            "order",
            &format!("etsy/{}/{}", shop.shop_id, receipt.receipt_id),
        );
        let paid_here = |fees| {
            receipts::paid(receipt, fees).map(|mut p| {
                p.amount_cents = p.amount_cents.saturating_sub(printify_cents);
                p
            })
        };
        let fees = match paid_here(None) {
            None => None,
            Some(due) => {
                // Fees already recorded for this payment are not asked for again.
                let order = self.pipeline.orders.store().load_fresh(&id).await;
                let known = order.map_err(|e| SyncError::Record(format!("order {id}: {e}")))?.aggregate.paid;
                match known.filter(|p| p.amount_cents == due.amount_cents).and_then(|p| p.fees_cents) {
                    Some(cents) => Some(receipts::Money {
                        amount: i64::try_from(cents).unwrap_or(i64::MAX),
                        divisor: 100,
                        currency_code: receipt.grandtotal.currency_code.clone(),
                    }),
                    None => {
                        let (api, etsy_shop, receipt_id) = (&self.app.api, shop.etsy_shop, receipt.receipt_id);
                        let payments = session
                            .call(|t| async move { api.receipt_payments(&t, etsy_shop, receipt_id).await })
                            .await?;
                        // Fees in another currency than the receipt's are not mixed in.
                        payments
                            .into_iter()
                            .map(|p| p.amount_fees)
                            .find(|m| m.currency_code == receipt.grandtotal.currency_code)
                    }
                }
            }
        };
        let step = |what: String| {
            EventMeta::with_command_id(format!(
                "etsy-receipt/{}/{}/{}/{what}",
                shop.tenant, shop.shop_id, receipt.receipt_id
            ))
        };
        let mut commands = vec![(step("receive".into()), OrderCommand::Receive(received))];
        if receipts::is_cancelled(receipt) {
            commands.push((step("cancel".into()), OrderCommand::Cancel { reason: "cancelled on Etsy".into() }));
        } else if let Some(p) = paid_here(fees.as_ref()) {
            // Named by the receipt's whole amount, as it was before Printify's
            // lines were left out: a receipt recorded whole then, read again
            // now, is the same payment, not a second one.
            let whole = receipt.grandtotal.cents().unwrap_or(p.amount_cents);
            let what = format!("pay/{whole}/{:?}", p.fees_cents);
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
        Ok(Recorded::Order)
    }

    /// Looks up the shop's published listings on Etsy and records each one
    /// whose state there changed: (checked, changed).
    async fn drift(&self, shop: &EtsyShop, session: &Session<'_>) -> Result<(usize, usize), SyncError> {
        let published: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT listing_id, etsy_listing_id FROM listings
             WHERE tenant = $1 AND shop_id = $2 AND status = 'published' AND etsy_listing_id IS NOT NULL
               AND marketplace_state IS DISTINCT FROM 'removed'",
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
                let etsy_listing = match found.iter().find(|f| f.listing_id == *etsy_id) {
                    Some(f) => Some(f.clone()),
                    // Left out of the batch: deleted only if Etsy has no such listing.
                    None => {
                        let one = *etsy_id;
                        session.call(|t| async move { api.listing(&t, one).await }).await?
                    }
                };
                let state = match etsy_listing {
                    None => MarketplaceState::Removed,
                    Some(f) => match MarketplaceState::from_etsy(&f.state) {
                        Some(s) => s,
                        None => continue,
                    },
                };
                checked += 1;
                let id = AggregateId::new(shop.tenant.clone(), *listing);
                let etsy_listing_id = etsy_id.to_string();
                let command = ListingCommand::RecordMarketplaceState { etsy_listing_id, state };
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

/// Takes the lines Printify fulfils (`through_printify`, by Etsy listing
/// id) out of a receipt's order, and what the buyer paid for them out of
/// its total: Printify's own order counts them. What they came to, or
/// None when every line is Printify's (the receipt is Printify's order).
fn leave_to_printify(received: &mut OrderReceived, through_printify: impl Fn(&str) -> bool) -> Option<u64> {
    let (printify, ours): (Vec<LineItem>, Vec<LineItem>) =
        received.line_items.drain(..).partition(|l| through_printify(&l.external_listing_id));
    if ours.is_empty() {
        received.line_items = printify;
        return None;
    }
    let cents =
        printify.iter().fold(0u64, |sum, l| sum.saturating_add(l.price_cents.saturating_mul(u64::from(l.quantity))));
    received.line_items = ours;
    received.total_cents = received.total_cents.saturating_sub(cents);
    Some(cents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pod_events::domain::shop::Marketplace;

    fn line(etsy_id: &str, quantity: u32, price_cents: u64) -> LineItem {
        LineItem { listing_id: None, external_listing_id: etsy_id.into(), quantity, price_cents }
    }

    fn receipt_of(lines: Vec<LineItem>, total_cents: u64) -> OrderReceived {
        OrderReceived {
            shop_id: Uuid::nil(),
            marketplace: Marketplace::Etsy,
            external_order_id: "3000000001".into(),
            line_items: lines,
            total_cents,
            currency: "USD".into(),
            placed_at: None,
        }
    }

    #[test]
    fn printifys_lines_leave_a_receipts_order_with_what_they_came_to() {
        // Two of a Printify-made shirt at 24.99 and one mug fulfilled by the
        // seller at 14.99, with 5.00 shipping: 69.97 in all.
        let mut r = receipt_of(vec![line("11", 2, 2499), line("22", 1, 1499)], 6997);
        assert_eq!(leave_to_printify(&mut r, |id| id == "11"), Some(4998));
        assert_eq!(r.line_items, vec![line("22", 1, 1499)]);
        assert_eq!(r.total_cents, 1999, "the mug and the shipping");

        let mut none = receipt_of(vec![line("22", 1, 1499)], 1999);
        assert_eq!(leave_to_printify(&mut none, |id| id == "11"), Some(0));
        assert_eq!((none.line_items.len(), none.total_cents), (1, 1999), "nothing taken");
    }

    #[test]
    fn a_receipt_of_only_printifys_lines_is_printifys_order() {
        let mut r = receipt_of(vec![line("11", 1, 2499), line("12", 1, 2499)], 5498);
        assert_eq!(leave_to_printify(&mut r, |id| id.starts_with('1')), None);
        assert_eq!((r.line_items.len(), r.total_cents), (2, 5498), "left as it was");
        let mut absurd = receipt_of(vec![line("11", u32::MAX, u64::MAX), line("22", 1, 100)], 100);
        assert_eq!(leave_to_printify(&mut absurd, |id| id == "11"), Some(u64::MAX), "saturates");
        assert_eq!(absurd.total_cents, 0, "never wraps below zero");
    }
}

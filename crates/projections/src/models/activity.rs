//! `activity`: the per-tenant feed of everything that happened, one line per
//! event, in words a shop owner reads.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use serde_json::Value;
use sqlx::PgConnection;

use super::{ApplyError, Projection, uuid_of};

pub struct Activity;

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("?")
}

/// One line describing an event (from its stored payload; no upcasting needed
/// for the fields used here).
pub fn summarize(e: &RecordedEvent) -> String {
    let p = &e.payload;
    match e.event_type.as_str() {
        "TrendObserved" => format!(
            "Trend “{}” observed on {} (score {})",
            s(p, &["keyword"]),
            p["observation"]["source"].as_str().or(p["source"].as_str()).unwrap_or("?"),
            p["observation"]["score"].as_f64().or(p["score"].as_f64()).unwrap_or(0.0)
        ),
        "TrendRetired" => format!("Trend retired: {}", s(p, &["reason"])),
        "TrendIdeasRequested" => {
            let n = p["count"].as_u64().unwrap_or(0);
            if p["replacing"].is_string() {
                "A replacement idea was asked for".to_owned()
            } else {
                format!("{n} more idea{} asked for", if n == 1 { "" } else { "s" })
            }
        }
        "IdeaGenerated" => {
            format!("Idea “{}” generated for {} ({})", s(p, &["phrase"]), s(p, &["product_type"]), s(p, &["niche"]))
        }
        "IdeaScreened" => {
            let hits = p["hits"].as_array().map(Vec::len).unwrap_or(0);
            format!("Idea screened {} ({} hit{})", s(p, &["verdict"]), hits, if hits == 1 { "" } else { "s" })
        }
        "IdeaApproved" => "Idea approved".to_owned(),
        "IdeaRejected" => format!("Idea rejected: {}", s(p, &["reason"])),
        "DesignRequested" => format!("Design requested: “{}” ({} layout)", s(p, &["phrase"]), s(p, &["layout"])),
        "DesignRendered" => format!(
            "Design rendered {}×{} by {}",
            p["artwork"]["width"].as_u64().unwrap_or(0),
            p["artwork"]["height"].as_u64().unwrap_or(0),
            s(p, &["renderer"])
        ),
        "DesignFailed" => format!("Design failed: {}", s(p, &["reason"])),
        "DesignApproved" => "Design approved".to_owned(),
        "DesignRejected" => format!("Design rejected: {}", s(p, &["reason"])),
        "DesignRegenerationRequested" => format!("Design asked for again: {} layout", s(p, &["layout"])),
        "ListingDrafted" => format!("Listing drafted: “{}”", s(p, &["title"])),
        "ListingRevised" => "Listing revised".to_owned(),
        "ListingApproved" => "Listing approved".to_owned(),
        "ListingSubmitted" => "Listing queued for publishing".to_owned(),
        "ListingPublished" => "Listing published".to_owned(),
        "ListingPublishFailed" => format!("Publishing failed: {}", s(p, &["reason"])),
        "ShopConnected" => format!("Shop connected: {} ({})", s(p, &["display_name"]), s(p, &["marketplace"])),
        "ShopTokenRefreshed" => "Marketplace token refreshed".to_owned(),
        "ShopDisconnected" => format!("Shop disconnected: {}", s(p, &["reason"])),
        "ShopNeedsReconnect" => format!("Shop needs reconnecting: {}", s(p, &["reason"])),
        "ShopListingDefaultsChosen" => "Shop's shipping profile and return policy chosen".to_owned(),
        "OrderReceived" => format!(
            "Order {} received: {:.2} {}",
            s(p, &["external_order_id"]),
            p["total_cents"].as_u64().unwrap_or(0) as f64 / 100.0,
            s(p, &["currency"])
        ),
        "OrderPaid" => "Order paid".to_owned(),
        "CostRecorded" => format!(
            "Paid call: {} {} cost ${:.4}",
            s(p, &["provider"]),
            s(p, &["what"]),
            p.get("cost_micros").and_then(|v| v.as_u64()).unwrap_or(0) as f64 / 1e6
        ),
        "BudgetExhausted" => format!(
            "Monthly budget of ${:.2} reached: paid calls paused",
            p.get("limit_micros").and_then(|v| v.as_u64()).unwrap_or(0) as f64 / 1e6
        ),
        "SourceRefreshed" => format!(
            "Source {} refreshed: {} collected, {} new, {} blocked",
            s(p, &["source"]),
            p.get("collected").and_then(|v| v.as_u64()).unwrap_or(0),
            p.get("persisted").and_then(|v| v.as_u64()).unwrap_or(0),
            p.get("blocked").and_then(|v| v.as_u64()).unwrap_or(0)
        ),
        "TrendIdeated" => format!(
            "Trend turned into {} ideas ({})",
            p.get("ideas").and_then(|v| v.as_u64()).unwrap_or(0),
            s(p, &["provider"])
        ),
        "OrderShipped" => format!("Order shipped with {}", s(p, &["carrier"])),
        "OrderCancelled" => format!("Order cancelled: {}", s(p, &["reason"])),
        other => other.to_owned(),
    }
}

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    let n = events.len();
    let mut tenant = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut agg = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut ty = Vec::with_capacity(n);
    let mut summary = Vec::with_capacity(n);
    for e in events {
        tenant.push(e.tenant.clone());
        seq.push(e.stream_seq as i64);
        at.push(e.occurred_at);
        agg.push(e.aggregate_type.clone());
        id.push(uuid_of(e)?);
        ty.push(e.event_type.clone());
        summary.push(summarize(e));
    }
    sqlx::query(
        "INSERT INTO activity (tenant, stream_seq, occurred_at, aggregate_type, aggregate_id, event_type, summary)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::uuid[], $6::text[], $7::text[])",
    )
    .bind(tenant)
    .bind(seq)
    .bind(at)
    .bind(agg)
    .bind(id)
    .bind(ty)
    .bind(summary)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Projection for Activity {
    fn name(&self) -> &'static str {
        "activity"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &[]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["activity"]
    }
    fn hypertables(&self) -> &'static [(&'static str, &'static str)] {
        &[("activity", "occurred_at")]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}

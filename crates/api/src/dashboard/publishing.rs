//! Publishing: listings ready to go, the queue (queued, published,
//! failed), and the Submit / Dry run buttons.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;

use super::views::{ago, money};
use super::{PageError, Person, Shell, outcome, render};
use crate::AppState;
use crate::command::CommandRequest;
use crate::extract::{PathId, Query};
use crate::pagination::DEFAULT_LIMIT;
use crate::routes::publishing;
use pod_projections::read::publishing::{self as read, QueueFilter, QueueState, QueuedListing};
use pod_projections::read::{Keyset, listings};

/// An approved listing not yet submitted.
pub struct Ready {
    pub listing_id: uuid::Uuid,
    pub title: String,
    pub price: String,
    pub age: String,
}

/// A shop a listing can be published to: connected, and its token still
/// taken.
pub struct ShopChoice {
    pub shop_id: uuid::Uuid,
    pub display_name: String,
    pub marketplace: String,
}

impl ShopChoice {
    /// What publishing to it does, in a line.
    pub fn how(&self) -> &'static str {
        match self.marketplace.as_str() {
            "etsy" => "Drafts the listing on Etsy, adds its artwork and makes it active",
            _ => "Makes the product on Printify and publishes it to the shop's sales channel",
        }
    }

    /// The marketplace's name, as shown.
    pub fn marketplace_name(&self) -> &'static str {
        match self.marketplace.as_str() {
            "etsy" => "Etsy",
            _ => "Printify",
        }
    }
}

/// The tenant's shops a listing can be published to now.
pub(crate) async fn publishable_shops(
    s: &AppState,
    tenant: &pod_events::TenantId,
) -> Result<Vec<ShopChoice>, sqlx::Error> {
    Ok(read::shops(&s.pool, tenant)
        .await?
        .into_iter()
        .filter(|sh| sh.connected && !sh.needs_reconnect && matches!(sh.marketplace.as_str(), "printify" | "etsy"))
        .map(|sh| ShopChoice { shop_id: sh.shop_id, display_name: sh.display_name, marketplace: sh.marketplace })
        .collect())
}

/// A submitted listing, in words.
pub struct QueueRow {
    pub l: QueuedListing,
    pub state: &'static str,
    pub tone: &'static str,
    pub target: String,
    pub age: String,
}

impl From<QueuedListing> for QueueRow {
    fn from(l: QueuedListing) -> Self {
        let (state, tone) = match (l.status.as_str(), l.publish_error.is_some(), l.publish_step.as_deref()) {
            ("published", _, _) => match l.marketplace_state.as_deref() {
                None => ("published", "good"),
                Some("sold_out") => ("sold out", "warn"),
                Some("inactive") => ("deactivated", "warn"),
                Some("expired") => ("expired", "warn"),
                Some(_) => ("deleted on the marketplace", "bad"),
            },
            ("queued", true, _) => ("retrying", "warn"),
            ("queued", false, Some("publish_requested")) => ("publishing", "info"),
            ("queued", false, Some(_)) if l.printify_product_id.is_none() && l.etsy_listing_id.is_some() => {
                ("drafted on Etsy", "info")
            }
            ("queued", false, Some(_)) => ("product made", "info"),
            ("queued", false, None) => ("queued", "info"),
            _ => ("failed", "bad"),
        };
        let target = match (l.dry_run, l.shop_id) {
            (Some(true), _) => "Dry run".to_owned(),
            (_, Some(shop)) => format!("Shop {}", &shop.to_string()[..8]),
            _ => "—".to_owned(),
        };
        Self { age: ago(l.submitted_at), state, tone, target, l }
    }
}

#[derive(Template)]
#[template(path = "publishing.html")]
struct PublishingPage {
    shell: Shell,
    ready: Vec<Ready>,
    queue: Vec<QueueRow>,
    tabs: Vec<(&'static str, &'static str, bool)>,
    shops: Vec<ShopChoice>,
    /// Something is on its way: the queue looks again every few seconds.
    live: bool,
    /// The tab shown, for looking again.
    state: &'static str,
}

pub async fn publishing(
    Person(session): Person,
    State(s): State<AppState>,
    Query(q): Query<QueueFilter>,
) -> Result<Response, PageError> {
    let tenant = &session.tenant;
    let state = q.state.unwrap_or(QueueState::All);
    let approved = listings::Filter { status: Some(listings::Status::Approved) };
    let ready = listings::list(&s.pool, tenant, &approved, &Keyset::first(DEFAULT_LIMIT)).await?.rows;
    let queue = read::queue(&s.pool, tenant, &q, &Keyset::first(DEFAULT_LIMIT)).await?.rows;
    let labels = ["All", "Queued", "Published", "Failed"];
    let shops = publishable_shops(&s, tenant).await?;
    let names: std::collections::HashMap<uuid::Uuid, String> =
        read::shops(&s.pool, tenant).await?.into_iter().map(|sh| (sh.shop_id, sh.display_name)).collect();
    let live = queue.iter().any(|l| l.status == "queued");
    let tabs = QueueState::ALL.iter().zip(labels).map(|(tab, label)| (tab.as_str(), label, *tab == state)).collect();
    Ok(render(&PublishingPage {
        shell: Shell::load(&s, &session, "publishing").await?,
        ready: ready
            .into_iter()
            .map(|l| Ready {
                listing_id: l.listing_id,
                price: money(l.price_cents, &l.currency),
                age: ago(l.updated_at),
                title: l.title,
            })
            .collect(),
        queue: queue
            .into_iter()
            .map(|l| {
                let mut row = QueueRow::from(l);
                if let Some(name) = row.l.shop_id.filter(|_| row.l.dry_run != Some(true)).and_then(|id| names.get(&id))
                {
                    row.target = name.clone();
                }
                row
            })
            .collect(),
        tabs,
        shops,
        live,
        state: state.as_str(),
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SubmitForm {
    #[serde(default)]
    dry_run: Option<String>,
    #[serde(default)]
    shop_id: Option<String>,
}

/// The Submit / Dry run buttons.
pub async fn submit(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    Form(f): Form<SubmitForm>,
) -> Response {
    let done = async {
        let shop_id = match f.shop_id.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| crate::problem::Problem::bad_request("shop_id", "not a shop id"))?),
        };
        let dry_run = f.dry_run.as_deref().is_none_or(|v| v == "true" || v == "on");
        let submission = publishing::Submission { shop_id, dry_run: Some(dry_run) };
        publishing::submit_listing(&s, &cmd, id, submission).await?;
        Ok(if dry_run {
            "Queued for a dry run: every check the marketplace would make, nothing created.".to_owned()
        } else {
            "Queued for publishing.".to_owned()
        })
    };
    outcome(done.await)
}

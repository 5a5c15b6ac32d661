//! `pod bench publish`: listings published straight to the Etsy stand-in,
//! which enforces Etsy's limit of requests per second on the app, through
//! the publishing worker as deployed (its runtime, its handler, its
//! budgets). Each listing takes three requests (draft, image, activation),
//! so the limit sets the run's least possible time: requests ÷ limit.
//! Prints the 429s the run caused (the budgets should leave none) and the
//! wall time against that minimum.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use pod_blobs::{BlobStore, LocalBlobStore};
use pod_events::domain::Actor;
use pod_events::domain::design::{Asset, DesignCommand, DesignRendered, DesignRequested, PrintArea};
use pod_events::domain::idea::{IdeaScreened, Verdict};
use pod_events::domain::listing::{ListingCommand, ListingDrafted};
use pod_events::domain::shop::{ListingDefaults, Marketplace, ShopCommand, ShopConnected};
use pod_events::store::definitions;
use pod_events::store::reader::{LogReader, Start};
use pod_events::{AggregateId, EventMeta, Namespace, TenantId};
use pod_marketplaces::etsy::EtsyOAuth;
use pod_marketplaces::standin::etsy::{self as standin, EtsyStandIn};
use pod_marketplaces::{EtsySettings, Keyring};
use pod_workers::pipeline::Pipeline;
use pod_workers::publishing::Publishing;
use pod_workers::publishing::etsy::EtsyPublisher;
use pod_workers::runtime::{Worker, WorkerOptions};
use serde_json::json;

use crate::config::Settings;

#[derive(Args)]
pub struct PublishArgs {
    /// Listings published.
    #[arg(long, default_value_t = 300)]
    pub listings: usize,
    /// Etsy's limit of requests per second, enforced by the stand-in and
    /// given to the worker as its budget.
    #[arg(long, default_value_t = 10)]
    pub per_second: u32,
    /// Listings the worker handles at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
}

const APP: &str = "pod-bench-publish";

pub async fn run(s: &Settings, a: PublishArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.listings > 0, "--listings: at least one");
    anyhow::ensure!(a.per_second > 0, "--per-second: at least one");
    let client = pod_events::store::connect(&s.nats_url, "pod-bench").await?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let ns = Namespace::new(format!("benchpub{tag}"))?;
    definitions::apply(&client, &ns, &s.nats_dir).await.context("applying nats/ definitions")?;
    let assets = std::env::temp_dir().join(format!("pod-bench-publish-{tag}"));
    let pool = crate::cli::pg(s).await?;
    pod_projections::db::MIGRATOR.run(&pool).await.context("migrating the database")?;
    let tenant = TenantId::parse(format!("bench{tag}"))?;
    let shop_id = uuid::Uuid::new_v4();
    let result = measure(&client, &ns, &pool, &tenant, shop_id, &assets, &a).await;
    let _ = pod_marketplaces::credentials::forget(&pool, &tenant, shop_id).await;
    let _ = definitions::delete_all(&client, &ns, &s.nats_dir).await;
    let _ = std::fs::remove_dir_all(&assets);
    let figures = result?;
    figures.print(&a);
    Ok(())
}

/// What a run measured.
#[derive(Debug, serde::Serialize)]
struct Figures {
    listings: usize,
    published: usize,
    failed: usize,
    requests: u64,
    throttled: u64,
    seconds: f64,
    minimum_seconds: f64,
}

impl Figures {
    fn print(&self, a: &PublishArgs) {
        let over = self.seconds / self.minimum_seconds.max(1e-9);
        println!("pod bench publish: {} listings straight to the Etsy stand-in at {}/s", self.listings, a.per_second);
        println!("  published          {:>8}   failed {}", self.published, self.failed);
        println!(
            "  requests to Etsy   {:>8}   ({:.1} a listing)",
            self.requests,
            self.requests as f64 / self.listings as f64
        );
        println!("  429s we caused     {:>8}   (target: 0)", self.throttled);
        println!(
            "  wall time          {:>8.1} s against the limit's minimum {:.1} s (requests ÷ {}/s): ×{over:.3} (target ≤ ×1.10)",
            self.seconds, self.minimum_seconds, a.per_second
        );
        if a.json {
            let mut v = serde_json::to_value(self).unwrap_or_default();
            v["ratio_to_minimum"] = json!(over);
            println!("{v}");
        }
    }
}

async fn measure(
    client: &async_nats::Client,
    ns: &Namespace,
    pool: &sqlx::PgPool,
    tenant: &TenantId,
    shop_id: uuid::Uuid,
    assets: &std::path::Path,
    a: &PublishArgs,
) -> anyhow::Result<Figures> {
    let etsy = EtsyStandIn::start(APP).await?;
    let settings = EtsySettings {
        base_url: etsy.url.clone(),
        authorize_url: etsy.authorize_url(),
        token_url: etsy.token_url(),
        keystring: Some(APP.into()),
        requests_per_second: a.per_second,
        ..EtsySettings::default()
    };
    let keys = Arc::new(Keyring::parse(&Keyring::new_entry("bench")?)?);
    let redirect = "http://127.0.0.1:9/integrations/etsy/callback";
    let tokens = etsy.consent(&EtsyOAuth::new(&settings, redirect)?).await.map_err(anyhow::Error::msg)?;
    pod_marketplaces::etsy::tokens::keep(pool, &keys, tenant, shop_id, &tokens).await?;

    let pipeline = Arc::new(Pipeline::open(client.clone(), ns).await?);
    let connect = ShopCommand::Connect(ShopConnected {
        marketplace: Marketplace::Etsy,
        external_shop_id: standin::SHOP_ID.to_string(),
        display_name: standin::SHOP_NAME.into(),
        token_expires_at: Some(tokens.expires_at),
        listing_defaults: ListingDefaults {
            shipping_profile_id: Some(standin::SHIPPING_PROFILE_ID),
            return_policy_id: Some(standin::RETURN_POLICY_ID),
            currency: Some("USD".into()),
            ..ListingDefaults::default()
        },
        sales_channel: None,
    });
    pipeline.shops.execute(&AggregateId::new(tenant.clone(), shop_id), connect, &EventMeta::new_command()).await?;

    let blobs = Arc::new(LocalBlobStore::new(assets.to_path_buf()));
    eprintln!("submitting {} listings…", a.listings);
    submit(&pipeline, blobs.as_ref(), tenant, shop_id, a.listings).await?;

    let publisher = EtsyPublisher::new(&settings, redirect, pool.clone(), keys).map_err(anyhow::Error::msg)?;
    let handler = Arc::new(Publishing::new(pipeline.clone(), blobs).with_etsy(publisher));
    let options = WorkerOptions { concurrency: a.concurrency.max(1), ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(client.clone(), ns.clone(), handler, options);
    let started = Instant::now();
    let running = tokio::spawn(async move { worker.run(async { _ = stopped.await }).await });
    let deadline = started + Duration::from_secs(a.timeout_secs);
    let (published, failed) = loop {
        let (published, failed) = settled(client, ns).await?;
        if published + failed >= a.listings {
            break (published, failed);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{published} of {} listings settled within {} s",
            a.listings,
            a.timeout_secs
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    running.await.context("the worker task")??;
    let requests = etsy.requests();
    Ok(Figures {
        listings: a.listings,
        published,
        failed,
        requests,
        throttled: etsy.throttled(),
        seconds,
        minimum_seconds: requests as f64 / f64::from(a.per_second),
    })
}

/// `n` listings of rendered t-shirt designs, approved and submitted to the shop.
async fn submit(
    pipeline: &Pipeline,
    blobs: &dyn BlobStore,
    tenant: &TenantId,
    shop_id: uuid::Uuid,
    n: usize,
) -> anyhow::Result<()> {
    let area = PrintArea::default();
    let request = move |i: usize| DesignRequested {
        idea_id: uuid::Uuid::nil(),
        phrase: format!("Proud Cat Mom No. {i}"),
        niche: "pets".into(),
        product_type: "t-shirt".into(),
        layout: "classic".into(),
        palette: "pawprint".into(),
        print_area: area,
    };
    // One real print-ready PNG, the artwork of every design.
    let images = tokio::task::spawn_blocking(move || pod_workers::designs::typographic::render(&request(0))).await??;
    anyhow::ensure!((images.width, images.height) == (area.width, area.height), "the artwork fills the print area");
    let stored = blobs.put("artwork", "png", "image/png", images.artwork_png).await?;
    let by = Actor::User { user_id: uuid::Uuid::from_u128(1) };
    let meta = EventMeta::new_command;
    for i in 0..n {
        let design = AggregateId::generate(tenant.clone());
        pipeline.designs.execute(&design, DesignCommand::Request(request(i)), &meta()).await?;
        let asset = |(width, height): (u32, u32)| Asset {
            key: stored.key.clone(),
            sha256: stored.sha256.clone(),
            bytes: stored.bytes,
            width,
            height,
            content_type: "image/png".into(),
        };
        let rendered = DesignRendered {
            artwork: asset((area.width, area.height)),
            preview: asset((area.width, area.height)),
            renderer: "typographic".into(),
            cost_micros: 0,
            attempt: 0,
        };
        pipeline.designs.execute(&design, DesignCommand::RecordRender(rendered), &meta()).await?;
        let listing = AggregateId::generate(tenant.clone());
        let drafted = ListingDrafted {
            idea_id: uuid::Uuid::nil(),
            design_id: design.id,
            title: format!("Proud Cat Mom Shirt No. {i}, Cat Lover Gift"),
            description: "A soft tee for proud cat moms, printed to order.".into(),
            tags: vec!["cat mom".into(), "cat lover gift".into()],
            price_cents: 2499,
            currency: "USD".into(),
            seo_score: 70,
            seo_checks: vec![],
            screening: Some(IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "bench".into() }),
        };
        for command in [
            ListingCommand::Draft(drafted.try_into()?),
            ListingCommand::Approve { by: by.clone() },
            ListingCommand::Submit { by: by.clone(), shop_id: Some(shop_id), dry_run: false },
        ] {
            pipeline.listings.execute(&listing, command, &meta()).await?;
        }
    }
    Ok(())
}

/// Listings published and failed so far, read from the log.
async fn settled(client: &async_nats::Client, ns: &Namespace) -> anyhow::Result<(usize, usize)> {
    let subjects = vec![ns.all_events()];
    let mut reader = LogReader::open(client.clone(), ns, subjects, Start::All).await?;
    let (mut published, mut failed) = (0, 0);
    loop {
        let batch = reader.next_batch(2000).await?;
        let done = batch.is_empty() || reader.caught_up();
        for e in &batch {
            match e.event_type.as_str() {
                "ListingPublished" => published += 1,
                "ListingPublishFailed" => failed += 1,
                _ => {}
            }
        }
        if done {
            return Ok((published, failed));
        }
    }
}

//! `pod bench api`: the gateway under load, in this process, against a
//! scratch database and NATS prefix seeded through commands and
//! projections. For each main read endpoint: the most requests per second
//! a closed loop of clients gets, with p50/p99 latency, and p50/p99 at a
//! fixed request rate (open loop, timed from each request's scheduled
//! start, so a stall is not hidden). Then how many listing edits per second
//! are accepted (202). The baseline, measured in the same run by the same
//! client, is the server's static route (`/healthz`): every figure is also
//! printed as a ratio of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use pod_events::domain::idea::{Generation, Idea, IdeaCommand, IdeaGenerated, IdeaScreened, Verdict};
use pod_events::domain::listing::{Listing, ListingCommand, ListingDrafted};
use pod_events::domain::trend::{Observation, Trend};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig, definitions};
use pod_events::{AggregateId, EventMeta, Namespace, TenantId};
use pod_projections::{Projector, RunOptions, all_projections};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection};

use crate::config::Settings;

#[derive(Args)]
pub struct ApiArgs {
    /// Trends, ideas and listings seeded (each).
    #[arg(long, default_value_t = 300)]
    pub rows: usize,
    /// Concurrent clients for the throughput phases.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seconds per endpoint and phase.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Requests per second of the fixed-rate phase.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Figure {
    endpoint: String,
    max_per_s: f64,
    vs_static: f64,
    p50_ms_at_max: f64,
    p99_ms_at_max: f64,
    p50_ms_at_rate: f64,
    p99_ms_at_rate: f64,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// A closed loop: `clients` tasks each sending the next request as soon as
/// the last is answered. Returns requests/s, sorted latencies, errors.
async fn closed_loop(
    http: &reqwest::Client,
    urls: Arc<Vec<String>>,
    token: &str,
    clients: usize,
    seconds: u64,
) -> (f64, Vec<Duration>, usize) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, urls, auth) = (http.clone(), urls.clone(), format!("Bearer {token}"));
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut i) = (Vec::new(), 0usize, c);
            while Instant::now() < until {
                let t = Instant::now();
                let ok = match http.get(&urls[i % urls.len()]).header("authorization", &auth).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                errors += usize::from(!ok);
                i += clients;
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    let per_s = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (per_s, all, errors)
}

/// An open loop at `rate` requests/s; each latency counts from the moment
/// the request was due.
async fn fixed_rate(
    http: &reqwest::Client,
    urls: Arc<Vec<String>>,
    token: &str,
    rate: u32,
    seconds: u64,
) -> Vec<Duration> {
    let n = (rate as u64 * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (http, url, auth) = (http.clone(), urls[i % urls.len()].clone(), format!("Bearer {token}"));
        tasks.push(tokio::spawn(async move {
            let _ = http.get(&url).header("authorization", &auth).send().await.map(|r| r.bytes());
            due.elapsed()
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(d) = t.await {
            lat.push(d);
        }
    }
    lat.sort();
    lat
}

/// Trends, ideas and listings through the aggregates, then projected.
async fn seed(
    client: &async_nats::Client,
    ns: &Namespace,
    pool: &sqlx::PgPool,
    rows: usize,
) -> anyhow::Result<(Vec<uuid::Uuid>, Vec<uuid::Uuid>)> {
    let config = StoreConfig { namespace: ns.clone(), ..Default::default() };
    let tenant = TenantId::parse("bench")?;
    let trends: CommandBus<Trend> = CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ());
    let ideas: CommandBus<Idea> = CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ());
    let listings: CommandBus<Listing> =
        CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ());
    let orders: CommandBus<pod_events::domain::order::Order> =
        CommandBus::new(JetStreamStore::open(client.clone(), config).await?, ());
    let now = Utc::now();
    let records: Vec<pod_trendlists::parse::TrendRecord> = (0..rows)
        .flat_map(|i| {
            (0..7).map(move |d| pod_trendlists::parse::TrendRecord {
                keyword: format!("bench niche {i}"),
                observation: Observation {
                    source: "bench".into(),
                    observed_at: now - chrono::Duration::days(d),
                    rank: None,
                    volume: None,
                    score: 40.0 + ((i * 7 + d as usize) % 60) as f64,
                    estimated: false,
                    confidence: 0.9,
                },
            })
        })
        .collect();
    pod_trendlists::ingest::ingest(&trends, &tenant, "bench-api", &records).await?;
    let mut trend_ids = Vec::new();
    let mut listing_ids = Vec::new();
    for i in 0..rows {
        let trend = AggregateId::derived(tenant.clone(), "trend", &format!("bench niche {i}"));
        trend_ids.push(trend.id);
        let idea = AggregateId::generate(tenant.clone());
        let generated = IdeaGenerated {
            trend_id: trend.id,
            phrase: format!("Bench Niche {i} Club"),
            niche: "hobbies".into(),
            product_type: "t-shirt".into(),
            style: "retro".into(),
            audience: "fans".into(),
            tags: vec!["bench niche".into()],
            provider: "bench".into(),
            model: None,
            cost_micros: 0,
        };
        let generated = Generation::parse(generated).context("a bench idea")?;
        ideas.execute(&idea, IdeaCommand::Generate(generated), &EventMeta::new_command()).await?;
        let screened = IdeaScreened { verdict: Verdict::Green, hits: vec![], index_version: "bench".into() };
        ideas.execute(&idea, IdeaCommand::RecordScreening(screened), &EventMeta::new_command()).await?;
        let listing = AggregateId::generate(tenant.clone());
        let drafted = ListingDrafted {
            idea_id: idea.id,
            design_id: uuid::Uuid::new_v4(),
            title: format!("Bench Niche {i} Club Shirt, Bench Niche Gift"),
            description: "A shirt for the bench.".into(),
            tags: vec!["bench niche".into(), "gift idea".into()],
            price_cents: 2499,
            currency: "USD".into(),
            seo_score: 70,
            seo_checks: vec![],
            screening: None,
        };
        listings.execute(&listing, ListingCommand::Draft(drafted.try_into()?), &EventMeta::new_command()).await?;
        listing_ids.push(listing.id);
        // A sale of it, for analytics to sum.
        use pod_events::domain::order::{LineItem, OrderCommand, OrderReceived};
        let sale = OrderReceived {
            shop_id: uuid::Uuid::nil(),
            marketplace: pod_events::domain::shop::Marketplace::Etsy,
            external_order_id: format!("bench-{i}"),
            line_items: vec![LineItem {
                listing_id: Some(listing.id),
                external_listing_id: format!("etsy-{i}"),
                quantity: 1 + (i % 3) as u32,
                price_cents: 2499,
            }],
            total_cents: 2499 * (1 + (i % 3) as u64),
            currency: "USD".into(),
            placed_at: None,
        };
        let order = AggregateId::generate(tenant.clone());
        orders.execute(&order, OrderCommand::Receive(sale), &EventMeta::new_command()).await?;
    }
    for p in all_projections() {
        let options = RunOptions { stop_when_idle: true, ..Default::default() };
        Projector::new(pool.clone(), client.clone(), ns.clone(), p).run(&options, std::future::pending()).await?;
    }
    Ok((trend_ids, listing_ids))
}

pub async fn run(s: &Settings, a: ApiArgs) -> anyhow::Result<()> {
    let client = pod_events::store::connect(&s.nats_url, "pod-bench").await?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let ns = Namespace::new(format!("bench{tag}"))?;
    let db = format!("pod_bench_api_{tag}");
    definitions::apply(&client, &ns, &s.nats_dir).await.context("applying nats/ definitions")?;
    let mut admin = sqlx::PgConnection::connect(&s.database_url).await.context("connecting to Postgres")?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut admin).await?;
    let url = match s.database_url.rfind('/') {
        Some(i) => format!("{}/{db}", &s.database_url[..i]),
        None => format!("{}/{db}", s.database_url),
    };
    let result = measure(s, &a, &client, &ns, &url).await;
    let _ = definitions::delete_all(&client, &ns, &s.nats_dir).await;
    let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))).execute(&mut admin).await;
    let (figures, commands) = result?;
    println!(
        "pod bench api — {} rows each, {} clients, {} s per phase, fixed rate {}/s (server and clients in one process)",
        a.rows, a.clients, a.seconds, a.rate
    );
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "endpoint", "max req/s", "× static", "p50 ms", "p99 ms", "p50@rate", "p99@rate"
    );
    for f in &figures {
        println!(
            "{:<34} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10.2} {:>10.2}{}",
            f.endpoint,
            f.max_per_s,
            f.vs_static,
            f.p50_ms_at_max,
            f.p99_ms_at_max,
            f.p50_ms_at_rate,
            f.p99_ms_at_rate,
            if f.errors > 0 { format!("  ({} errors)", f.errors) } else { String::new() }
        );
    }
    println!(
        "{:<34} {:>10.0} {:>9.2} {:>9.2} {:>9.2}   accepted {} of {}",
        "PATCH /listings/{id} (commands)",
        commands.0,
        commands.0 / figures[0].max_per_s.max(1e-9),
        commands.1,
        commands.2,
        commands.3,
        commands.4
    );
    if a.json {
        let v = serde_json::json!({
            "reads": figures,
            "commands": {"accepted_per_s": commands.0, "p50_ms": commands.1, "p99_ms": commands.2,
                         "accepted": commands.3, "sent": commands.4},
        });
        println!("{v}");
    }
    Ok(())
}

type Commands = (f64, f64, f64, usize, usize);

async fn measure(
    s: &Settings,
    a: &ApiArgs,
    client: &async_nats::Client,
    ns: &Namespace,
    url: &str,
) -> anyhow::Result<(Vec<Figure>, Commands)> {
    let pool = pod_projections::db::connect(url, s.db_max_connections.max(8)).await?;
    pod_projections::db::migrate(&pool).await?;
    eprintln!("seeding {} trends (7 days each), ideas and listings…", a.rows);
    let (trends, listings) = seed(client, ns, &pool, a.rows.max(1)).await?;
    pod_api::auth::create_tenant(&pool, "bench", "Bench").await?;
    let token = pod_api::auth::issue_token(&pool, "bench", "bench", pod_api::auth::Role::Editor).await?;
    let blobs =
        Arc::new(pod_blobs::LocalBlobStore::new(std::env::temp_dir().join(format!("pod-bench-{}", ns.prefix()))));
    let index = Arc::new(pod_screening::ScreeningIndex::curated());
    let state = pod_api::AppState::new(pool.clone(), client.clone(), ns, index, blobs).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, pod_api::router(state)).await });
    let http = reqwest::Client::builder().pool_max_idle_per_host(a.clients * 2).build()?;

    let endpoints: Vec<(String, Vec<String>)> = vec![
        ("GET /healthz (static baseline)".into(), vec![format!("{base}/healthz")]),
        ("GET /trends?limit=50".into(), vec![format!("{base}/api/v1/trends?limit=50")]),
        ("GET /trends/{id}".into(), trends.iter().map(|t| format!("{base}/api/v1/trends/{t}")).collect()),
        (
            "GET /trends/{id}/interest".into(),
            trends.iter().map(|t| format!("{base}/api/v1/trends/{t}/interest")).collect(),
        ),
        ("GET /ideas?limit=50".into(), vec![format!("{base}/api/v1/ideas?limit=50")]),
        ("GET /listings?limit=50".into(), vec![format!("{base}/api/v1/listings?limit=50")]),
        ("GET /listings/{id}".into(), listings.iter().map(|l| format!("{base}/api/v1/listings/{l}")).collect()),
        ("GET /analytics/summary".into(), vec![format!("{base}/api/v1/analytics/summary")]),
        ("GET /runs?limit=50".into(), vec![format!("{base}/api/v1/runs?limit=50")]),
        ("GET /publish-queue".into(), vec![format!("{base}/api/v1/publish-queue")]),
    ];
    let mut figures: Vec<Figure> = Vec::new();
    for (name, urls) in endpoints {
        let urls = Arc::new(urls);
        let (per_s, lat, errors) = closed_loop(&http, urls.clone(), &token, a.clients, a.seconds).await;
        let at_rate = fixed_rate(&http, urls, &token, a.rate, a.seconds).await;
        let baseline = figures.first().map(|f| f.max_per_s).unwrap_or(per_s);
        figures.push(Figure {
            endpoint: name,
            max_per_s: per_s,
            vs_static: per_s / baseline.max(1e-9),
            p50_ms_at_max: percentile(&lat, 0.5),
            p99_ms_at_max: percentile(&lat, 0.99),
            p50_ms_at_rate: percentile(&at_rate, 0.5),
            p99_ms_at_rate: percentile(&at_rate, 0.99),
            errors,
        });
    }

    // Commands: price edits, each client on its own listings (no contention).
    // An edit is made on the revision the read model shows, so the listings
    // projection runs meanwhile, as it does in service.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let projection = pod_projections::projection_named("listings")
        .ok_or_else(|| anyhow::anyhow!("the listings projection is not registered"))?;
    let projector = {
        let (pool, client, ns) = (pool.clone(), client.clone(), ns.clone());
        tokio::spawn(async move {
            let options = RunOptions::default();
            Projector::new(pool, client, ns, projection).run(&options, async { drop(stop_rx.await) }).await
        })
    };
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let started = Instant::now();
    let listings = Arc::new(listings);
    let mut tasks = Vec::new();
    let step = a.clients;
    for c in 0..a.clients {
        let (http, listings, base, auth) = (http.clone(), listings.clone(), base.clone(), format!("Bearer {token}"));
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut accepted, mut sent, mut i) = (Vec::new(), 0usize, 0usize, c);
            while Instant::now() < until {
                let id = listings[i % listings.len()];
                let body = serde_json::json!({"price_cents": 2000 + (sent % 900) as i64});
                let t = Instant::now();
                let r = http
                    .patch(format!("{base}/api/v1/listings/{id}"))
                    .header("authorization", &auth)
                    .json(&body)
                    .send()
                    .await;
                lat.push(t.elapsed());
                sent += 1;
                accepted += usize::from(r.is_ok_and(|r| r.status() == reqwest::StatusCode::ACCEPTED));
                i += step;
            }
            (lat, accepted, sent)
        }));
    }
    let (mut lat, mut accepted, mut sent) = (Vec::new(), 0, 0);
    for t in tasks {
        if let Ok((l, acc, n)) = t.await {
            lat.extend(l);
            accepted += acc;
            sent += n;
        }
    }
    lat.sort();
    let per_s = accepted as f64 / started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    projector.await??;
    server.abort();
    Ok((figures, (per_s, percentile(&lat, 0.5), percentile(&lat, 0.99), accepted, sent)))
}

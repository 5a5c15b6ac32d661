//! `pod bench backbone`: throughput of the event backbone, each figure next
//! to its ceiling measured in the same run on the same machine:
//! raw JetStream publish vs. our append, Postgres COPY vs. projection,
//! a raw ordered read vs. replay, and cqrs-es's own postgres-es store as peer.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use futures::StreamExt;
use pod_events::domain::trend::{Observation, Trend, TrendCommand};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig, definitions};
use pod_events::{AggregateId, EventMeta, Namespace, TenantId};
use pod_projections::{Projector, RunOptions, projection_named};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};

use crate::config::Settings;

#[derive(Args)]
pub struct BackboneArgs {
    /// Commands (= events) for the append, projection and read phases.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// Distinct aggregates the appends are spread over.
    #[arg(long, default_value_t = 2_000)]
    pub aggregates: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Sequential commands on one aggregate.
    #[arg(long, default_value_t = 5_000)]
    pub one_aggregate: usize,
    /// Commands through the postgres-es peer (it is slower; keep the run short).
    #[arg(long, default_value_t = 10_000)]
    pub peer_commands: usize,
    /// Events per projection transaction.
    #[arg(long, default_value_t = 1_000)]
    pub project_batch: usize,
    /// Keep the run's streams and databases (their names are printed) for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
}

fn observation(i: usize) -> Observation {
    let base = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    Observation {
        source: ["google-trends-rss", "amazon-movers", "curated-csv"][i % 3].into(),
        observed_at: base + Duration::seconds(i as i64 * 37),
        rank: Some((i % 50) as u32 + 1),
        volume: Some((i as u64 % 1000) * 13),
        score: (i % 101) as f64,
        estimated: i.is_multiple_of(7),
        confidence: 0.8,
    }
}

fn keyword(a: usize) -> String {
    format!("bench keyword {a}")
}

fn command(a: usize, i: usize) -> TrendCommand {
    TrendCommand::Observe {
        keyword: keyword(a),
        niche: "hobbies".into(),
        product_types: vec!["t-shirt".into()],
        observation: observation(i),
    }
}

fn per_s(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

fn db_url(admin: &str, db: &str) -> String {
    match admin.rfind('/') {
        Some(i) => format!("{}/{db}", &admin[..i]),
        None => format!("{admin}/{db}"),
    }
}

/// Databases and streams the run creates, removed at the end.
struct Scratch {
    admin_url: String,
    dbs: Vec<String>,
    ns: Namespace,
}

impl Scratch {
    async fn cleanup(&self, client: &async_nats::Client, nats_dir: &std::path::Path) {
        let _ = definitions::delete_all(client, &self.ns, nats_dir).await;
        let raw = format!("{}_RAW", self.ns.events_stream());
        let _ = jetstream::new(client.clone()).delete_stream(&raw).await;
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin_url).await {
            for db in &self.dbs {
                let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
                    .execute(&mut c)
                    .await;
            }
        }
    }
}

pub async fn run(s: &Settings, args: BackboneArgs) -> anyhow::Result<()> {
    let client = pod_events::store::connect(&s.nats_url, "pod-bench").await?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let ns = Namespace::new(format!("bench{tag}"))?;
    let scratch = Scratch {
        admin_url: s.database_url.clone(),
        dbs: vec![format!("pod_bench_{tag}"), format!("pod_bench_peer_{tag}")],
        ns: ns.clone(),
    };
    let result = backbone(s, &client, &scratch, &args).await;
    if args.keep {
        eprintln!("kept: prefix {} (stream {}), databases {}", ns.prefix(), ns.events_stream(), scratch.dbs.join(", "));
    } else {
        scratch.cleanup(&client, &s.nats_dir).await;
    }
    let figures = result?;
    print_report(&figures, &args);
    Ok(())
}

#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    events: usize,
    raw_publish_per_s: f64,
    append_per_s: f64,
    append_one_aggregate_per_s: f64,
    peer_postgres_es_per_s: f64,
    copy_rows_per_s: f64,
    project_per_s: f64,
    raw_read_per_s: f64,
    replay_per_s: f64,
}

async fn backbone(
    s: &Settings,
    client: &async_nats::Client,
    scratch: &Scratch,
    a: &BackboneArgs,
) -> anyhow::Result<Figures> {
    let ns = &scratch.ns;
    let n = a.events.max(1);
    let aggs = a.aggregates.clamp(1, n);
    let conc = a.concurrency.clamp(1, aggs);
    definitions::apply(client, ns, &s.nats_dir).await.context("applying nats/ definitions")?;
    let mut admin = sqlx::PgConnection::connect(&s.database_url).await.context("connecting to Postgres")?;
    for db in &scratch.dbs {
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut admin).await?;
    }
    let main_url = db_url(&s.database_url, &scratch.dbs[0]);
    let pool = pod_projections::db::connect(&main_url, 4).await?;
    pod_projections::db::migrate(&pool).await?;
    let tenant = TenantId::parse("bench")?;
    let ids: Vec<AggregateId> = (0..aggs).map(|i| AggregateId::derived(tenant.clone(), "trend", &keyword(i))).collect();
    let js = jetstream::new(client.clone());
    let mut f = Figures { events: n, ..Default::default() };

    // 1. Ceiling: plain JetStream publishes of the same payloads and headers,
    //    acks pipelined in windows of 1,000, into a scratch stream.
    let raw_stream = format!("{}_RAW", ns.events_stream());
    js.create_stream(jetstream::stream::Config {
        name: raw_stream.clone(),
        subjects: vec![format!("{}.raw.>", ns.prefix())],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("creating the raw stream")?;
    let payloads: Vec<(String, bytes::Bytes)> = (0..n)
        .map(|i| {
            let body = json!({"keyword": keyword(i % aggs), "normalized": keyword(i % aggs), "niche": "hobbies",
                              "product_types": ["t-shirt"], "observation": observation(i)});
            (
                format!("{}.raw.trend.bench.{}", ns.prefix(), ids[i % aggs].id),
                serde_json::to_vec(&body).unwrap_or_default().into(),
            )
        })
        .collect();
    let started = Instant::now();
    for window in payloads.chunks(1000) {
        let mut acks = Vec::with_capacity(window.len());
        for (subject, payload) in window {
            let mut h = HeaderMap::new();
            h.insert("Pod-Event-Type", "TrendObserved");
            h.insert("Pod-Event-Version", "2");
            h.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
            let msg = PublishMessage::build().headers(h).payload(payload.clone());
            acks.push(js.send_publish(subject.clone(), msg).await?.into_future());
        }
        for ack in futures::future::join_all(acks).await {
            ack?;
        }
    }
    f.raw_publish_per_s = per_s(n, started);

    // 2. Our store: N commands over many aggregates, `conc` concurrent writers.
    let store: JetStreamStore<Trend> = JetStreamStore::open(
        client.clone(),
        StoreConfig { namespace: ns.clone(), snapshot_every: 100, cache_capacity: aggs * 2 },
    )
    .await?;
    let bus = Arc::new(CommandBus::new(store.clone(), ()));
    // Writer w owns the aggregates a with a % conc == w: writers never race.
    let mut plans: Vec<Vec<(usize, usize)>> = vec![Vec::new(); conc];
    for i in 0..n {
        let a = i % aggs;
        plans[a % conc].push((a, i));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for plan in plans {
        let bus = bus.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for (a, i) in plan {
                let meta = EventMeta::with_command_id(format!("bench-{i}"));
                bus.execute(&ids[a], command(a, i), &meta).await?;
            }
            Ok::<_, pod_events::store::CommandError<pod_events::domain::trend::TrendError>>(())
        }));
    }
    for t in futures::future::join_all(tasks).await {
        t.context("writer task")?.context("append")?;
    }
    f.append_per_s = per_s(n, started);

    // 3. One aggregate, sequential load + commit.
    let one = AggregateId::derived(tenant.clone(), "trend", "bench one aggregate");
    let m = a.one_aggregate.max(1);
    let started = Instant::now();
    for i in 0..m {
        let cmd = TrendCommand::Observe {
            keyword: "bench one aggregate".into(),
            niche: "hobbies".into(),
            product_types: vec![],
            observation: observation(i),
        };
        bus.execute(&one, cmd, &EventMeta::with_command_id(format!("one-{i}"))).await?;
    }
    f.append_one_aggregate_per_s = per_s(m, started);

    // 4. Peer: the same kind of commands through postgres-es.
    let p = a.peer_commands.max(1);
    let peer_cmds: Vec<(String, TrendCommand)> =
        (0..p).map(|i| (ids[i % aggs].to_string(), command(i % aggs, i))).collect();
    f.peer_postgres_es_per_s = pod_bench_peer::run(&db_url(&s.database_url, &scratch.dbs[1]), peer_cmds, conc).await?;

    // 5. Ceiling for projections: COPY of the equivalent read-model rows
    //    (text encoding included in the time).
    let mut conn = pool.acquire().await?;
    sqlx::query("CREATE TABLE bench_copy (LIKE trend_observations INCLUDING ALL)").execute(&mut *conn).await?;
    let started = Instant::now();
    let mut copy = conn.copy_in_raw("COPY bench_copy FROM STDIN").await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut text = String::with_capacity(chunk.len() * 120);
        for &i in chunk {
            let o = observation(i);
            let _ = writeln!(
                text,
                "bench\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                ids[i % aggs].id,
                o.observed_at.to_rfc3339(),
                i + 1,
                o.source,
                o.rank.unwrap_or(0),
                o.volume.unwrap_or(0),
                o.score,
                o.estimated,
                o.confidence
            );
        }
        copy.send(text.into_bytes()).await?;
    }
    copy.finish().await?;
    f.copy_rows_per_s = per_s(n, started);
    drop(conn);

    // 6. Projection from the stream into the read models (trends + observations).
    let projector =
        Projector::new(pool.clone(), client.clone(), ns.clone(), projection_named("trends").context("trends")?);
    let started = Instant::now();
    let applied = projector
        .run(
            &RunOptions { stop_when_idle: true, batch_size: a.project_batch.max(1), ..Default::default() },
            std::future::pending(),
        )
        .await?;
    f.project_per_s = per_s(applied as usize, started);

    // 7. Ceiling for reads: a plain ordered consumer over the whole log.
    let total = n + m;
    let mut stream = js.get_stream(ns.events_stream()).await?;
    let started = Instant::now();
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: ns.all_events(),
            ..Default::default()
        })
        .await?;
    let mut msgs = consumer.messages().await?;
    let mut read = 0usize;
    while let Some(msg) = msgs.next().await {
        let msg = msg?;
        read += 1;
        if msg.info().map(|i| i.pending).unwrap_or(0) == 0 {
            break;
        }
    }
    f.raw_read_per_s = per_s(read, started);
    let _ = stream.info().await;

    // 8. `pod replay` to JSON Lines into /dev/null.
    let started = Instant::now();
    let args = crate::commands::replay::ReplayArgs {
        from_seq: None,
        since: None,
        until: None,
        aggregate: None,
        event_types: vec![],
        tenant: None,
        format: crate::commands::replay::Format::Jsonl,
        output: Some("/dev/null".into()),
        row_group: 10_000,
    };
    let replayed = crate::commands::replay::run(client.clone(), ns, args).await?;
    f.replay_per_s = per_s(replayed as usize, started);
    anyhow::ensure!(
        replayed as usize == total && read == total,
        "expected {total} events, read {read}, replayed {replayed}"
    );
    pool.close().await;
    Ok(f)
}

fn print_report(f: &Figures, a: &BackboneArgs) {
    let row = |name: &str, v: f64, note: String| println!("{name:<30} {v:>12.0}/s  {note}");
    println!("pod bench backbone — {} events, {} aggregates, {} writers", f.events, a.aggregates, a.concurrency);
    row("raw_publish_per_s", f.raw_publish_per_s, "ceiling: JetStream publish, pipelined acks".into());
    let r1 = f.append_per_s / f.raw_publish_per_s;
    row("append_per_s", f.append_per_s, format!("{r1:.2} × raw publish (target ≥ 0.50)"));
    row("append_one_aggregate_per_s", f.append_one_aggregate_per_s, "sequential load + commit".into());
    let r2 = f.append_per_s / f.peer_postgres_es_per_s;
    row("peer_postgres_es_per_s", f.peer_postgres_es_per_s, format!("append is {r2:.1} × this (target ≥ 3)"));
    row("copy_rows_per_s", f.copy_rows_per_s, "ceiling: Postgres COPY".into());
    let r3 = f.project_per_s / f.copy_rows_per_s;
    row("project_per_s", f.project_per_s, format!("{r3:.2} × COPY (target ≥ 0.30)"));
    row("raw_read_per_s", f.raw_read_per_s, "ceiling: ordered consumer read".into());
    let r4 = f.replay_per_s / f.raw_read_per_s;
    row("replay_per_s", f.replay_per_s, format!("{r4:.2} × raw read (target ≥ 0.50)"));
    if a.json {
        let mut v = serde_json::to_value(f).unwrap_or_default();
        v["ratios"] = json!({
            "append_vs_raw_publish": r1, "append_vs_peer": r2, "project_vs_copy": r3, "replay_vs_raw_read": r4
        });
        println!("{v}");
    }
}

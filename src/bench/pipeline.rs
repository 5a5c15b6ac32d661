//! `pod bench pipeline`: trends in, listings out, with the offline
//! providers and every stage a separate `pod worker` process, as deployed.
//! Prints trends/s and listings/s, each stage's throughput, end-to-end
//! latency (p50/p99), and the design stage with one and with two worker
//! processes. The baseline is the typographic renderer called directly in
//! this process on the very designs the run rendered, measured in the same
//! run: the design stage's throughput is reported as a ratio of it.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use pod_events::domain::design::DesignRequested;
use pod_events::domain::trend::Observation;
use pod_events::store::definitions;
use pod_events::store::reader::{LogReader, Start};
use pod_events::{Namespace, RecordedEvent, TenantId};
use pod_workers::pipeline::Pipeline;
use pod_workers::trends::ingest::ingest;
use pod_workers::trends::parse::TrendRecord;
use serde_json::json;

use crate::config::Settings;

#[derive(Args)]
pub struct PipelineArgs {
    /// Trends fed in (each becomes 3 ideas, then designs and listings).
    #[arg(long, default_value_t = 24)]
    pub trends: usize,
    /// Messages each worker process handles at once (1 shows scaling by processes).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Give up waiting for the pipeline to drain after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
}

const ANIMALS: [&str; 8] = ["cat", "dog", "corgi", "horse", "bunny", "hamster", "parrot", "chicken"];
const ROLES: [&str; 5] = ["mom", "dad", "grandma", "lover", "club"];

fn keyword(i: usize) -> String {
    let base = format!("{} {}", ANIMALS[i % ANIMALS.len()], ROLES[(i / ANIMALS.len()) % ROLES.len()]);
    match i / (ANIMALS.len() * ROLES.len()) {
        0 => base,
        n => format!("{base} {n}"),
    }
}

/// One run's measurements.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct Run {
    design_processes: usize,
    trends: usize,
    listings: usize,
    seconds: f64,
    trends_per_s: f64,
    listings_per_s: f64,
    stage_per_s: HashMap<String, f64>,
    latency_p50_s: f64,
    latency_p99_s: f64,
    #[serde(skip)]
    design_requests: Vec<DesignRequested>,
}

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The typographic renderer alone, in this process, on the very design
/// requests the pipeline rendered: designs per second.
fn renderer_baseline(requests: &[DesignRequested]) -> anyhow::Result<f64> {
    let started = Instant::now();
    for req in requests {
        pod_workers::designs::typographic::render(req)?;
    }
    Ok(requests.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

async fn drained(js: &async_nats::jetstream::Context, ns: &Namespace) -> anyhow::Result<bool> {
    for kind in pod_workers::kinds::WorkerKind::CONSUMERS {
        let name = ns.consumer(&format!("wrk_{}", kind.name()));
        let mut c: async_nats::jetstream::consumer::PullConsumer =
            js.get_consumer_from_stream(&name, ns.events_stream()).await?;
        let info = c.info().await?;
        if info.num_pending > 0 || info.num_ack_pending > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn one_run(s: &Settings, a: &PipelineArgs, design_processes: usize) -> anyhow::Result<Run> {
    let client = pod_events::store::connect(&s.nats_url, "pod-bench").await?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let ns = Namespace::new(format!("bench{tag}"))?;
    definitions::apply(&client, &ns, &s.nats_dir).await.context("applying nats/ definitions")?;
    let assets = std::env::temp_dir().join(format!("pod-bench-{tag}"));
    let result = async {
        let exe = std::env::current_exe()?;
        let mut workers = Workers(Vec::new());
        for (kind, n) in [("ideation", 1), ("screening", 1), ("designs", design_processes), ("listings", 1)] {
            for _ in 0..n {
                let child = Command::new(&exe)
                    .args(["worker", kind])
                    .env("NATS_URL", &s.nats_url)
                    .env("POD__PREFIX", ns.prefix())
                    .env("POD__NATS_DIR", &s.nats_dir)
                    .env("POD__WORKERS__ASSETS_DIR", &assets)
                    .env("POD__WORKERS__CONCURRENCY", a.concurrency.max(1).to_string())
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .context("starting a worker process")?;
                workers.0.push(child);
            }
        }
        // Let the workers connect before the clock starts.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let pipeline = Pipeline::open(client.clone(), &ns).await?;
        let now = Utc::now();
        let records: Vec<TrendRecord> = (0..a.trends)
            .map(|i| TrendRecord {
                keyword: keyword(i),
                observation: Observation {
                    source: "bench".into(),
                    observed_at: now,
                    rank: Some(i as u32 + 1),
                    volume: None,
                    score: 80.0,
                    estimated: false,
                    confidence: 0.9,
                },
            })
            .collect();
        let started = Instant::now();
        ingest(&pipeline.trends, &TenantId::parse("bench")?, "bench", &records).await?;
        let js = async_nats::jetstream::new(client.clone());
        let deadline = started + Duration::from_secs(a.timeout_secs);
        // Drained twice in a row, 250 ms apart: nothing pending, nothing in flight.
        let mut quiet = 0;
        while quiet < 2 {
            anyhow::ensure!(Instant::now() < deadline, "the pipeline did not drain within {} s", a.timeout_secs);
            tokio::time::sleep(Duration::from_millis(250)).await;
            quiet = if drained(&js, &ns).await? { quiet + 1 } else { 0 };
        }
        drop(workers);
        summarize(&client, &ns, a.trends, design_processes).await
    }
    .await;
    let _ = definitions::delete_all(&client, &ns, &s.nats_dir).await;
    let _ = std::fs::remove_dir_all(&assets);
    result
}

/// Reads the run's events back and derives the figures from their times.
async fn summarize(
    client: &async_nats::Client,
    ns: &Namespace,
    trends: usize,
    design_processes: usize,
) -> anyhow::Result<Run> {
    let mut reader = LogReader::open(client.clone(), ns, vec![ns.all_events()], Start::All).await?;
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let batch = reader.next_batch(1000).await?;
        let done = batch.is_empty() || reader.caught_up();
        events.extend(batch);
        if done {
            break;
        }
    }
    let mut first: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut last: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut observed_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut idea_trend: HashMap<String, String> = HashMap::new();
    for e in &events {
        let t = e.event_type.as_str();
        first.entry(t).and_modify(|v| *v = (*v).min(e.occurred_at)).or_insert(e.occurred_at);
        last.entry(t).and_modify(|v| *v = (*v).max(e.occurred_at)).or_insert(e.occurred_at);
        *count.entry(t).or_default() += 1;
        match t {
            "TrendObserved" => {
                observed_at.insert(e.aggregate_id.split('.').nth(1).unwrap_or_default().to_owned(), e.occurred_at);
            }
            "IdeaGenerated" => {
                let trend = e.payload["trend_id"].as_str().unwrap_or_default().to_owned();
                idea_trend.insert(e.aggregate_id.split('.').nth(1).unwrap_or_default().to_owned(), trend);
            }
            _ => {}
        }
    }
    let start = first.get("TrendObserved").copied().unwrap_or_else(Utc::now);
    let end = last.get("ListingDrafted").copied().unwrap_or(start);
    let seconds = (end - start).num_milliseconds().max(1) as f64 / 1000.0;
    let mut latencies: Vec<f64> = events
        .iter()
        .filter(|e| e.event_type == "ListingDrafted")
        .filter_map(|e| {
            let idea = e.payload["idea_id"].as_str()?;
            let trend = idea_trend.get(idea)?;
            let t0 = observed_at.get(trend)?;
            Some((e.occurred_at - *t0).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    // A stage's throughput: its output events over the time from the first
    // input it could act on to its last output.
    let stages = [
        ("ideation", "TrendObserved", "IdeaGenerated"),
        ("screening", "IdeaGenerated", "IdeaScreened"),
        ("designs", "DesignRequested", "DesignRendered"),
        ("listings", "DesignRendered", "ListingDrafted"),
    ];
    let mut stage_per_s = HashMap::new();
    for (stage, input, output) in stages {
        if let (Some(a), Some(b), Some(n)) = (first.get(input), last.get(output), count.get(output)) {
            let secs = (*b - *a).num_milliseconds().max(1) as f64 / 1000.0;
            stage_per_s.insert(stage.to_owned(), *n as f64 / secs);
        }
    }
    let listings = count.get("ListingDrafted").copied().unwrap_or(0);
    let design_requests = events
        .iter()
        .filter(|e| e.event_type == "DesignRequested")
        .filter_map(|e| serde_json::from_value(e.payload.clone()).ok())
        .collect();
    Ok(Run {
        design_processes,
        trends,
        listings,
        seconds,
        trends_per_s: trends as f64 / seconds,
        listings_per_s: listings as f64 / seconds,
        stage_per_s,
        latency_p50_s: percentile(&latencies, 0.5),
        latency_p99_s: percentile(&latencies, 0.99),
        design_requests,
    })
}

pub async fn run(s: &Settings, a: PipelineArgs) -> anyhow::Result<()> {
    let one = one_run(s, &a, 1).await?;
    let requests = one.design_requests.clone();
    let baseline = tokio::task::spawn_blocking(move || renderer_baseline(&requests)).await??;
    let two = one_run(s, &a, 2).await?;
    let d1 = one.stage_per_s.get("designs").copied().unwrap_or(0.0);
    let d2 = two.stage_per_s.get("designs").copied().unwrap_or(0.0);
    println!(
        "pod bench pipeline — {} trends → {} listings, offline providers, worker concurrency {}",
        a.trends, one.listings, a.concurrency
    );
    println!(
        "{:<34} {:>10.2}/s  ceiling: the same designs rendered directly, one thread",
        "renderer_baseline_designs_per_s", baseline
    );
    for r in [&one, &two] {
        println!("-- design stage with {} process(es): {:.1} s end to end", r.design_processes, r.seconds);
        println!("{:<34} {:>10.2}/s", "trends_in_per_s", r.trends_per_s);
        println!("{:<34} {:>10.2}/s", "listings_out_per_s", r.listings_per_s);
        for stage in ["ideation", "screening", "designs", "listings"] {
            let v = r.stage_per_s.get(stage).copied().unwrap_or(0.0);
            println!("{:<34} {:>10.2}/s", format!("stage_{stage}_per_s"), v);
        }
        println!("{:<34} {:>10.2} s", "latency_p50", r.latency_p50_s);
        println!("{:<34} {:>10.2} s", "latency_p99", r.latency_p99_s);
    }
    println!("{:<34} {:>10.2} × (2 design processes vs 1)", "design_scaling", d2 / d1.max(1e-9));
    println!("{:<34} {:>10.2} × renderer baseline (1 process)", "design_stage_efficiency", d1 / baseline.max(1e-9));
    if a.json {
        let v = json!({
            "renderer_baseline_designs_per_s": baseline,
            "one_design_process": one,
            "two_design_processes": two,
            "ratios": {"design_scaling": d2 / d1.max(1e-9), "design_stage_vs_renderer": d1 / baseline.max(1e-9)}
        });
        println!("{v}");
    }
    Ok(())
}

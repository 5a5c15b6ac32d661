//! `pod projections`: run the read models, see where each stands, rebuild
//! one, and deal with the events one had to park.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pod_projections::{Projector, RunOptions, all_projections, projection_named};

use crate::cli::{namespace, nats, pg, shutdown_signal};
use crate::config::Settings;

#[derive(Subcommand)]
pub enum ProjectionsCommand {
    /// Run projections (all, or the ones named) until stopped.
    Run {
        /// Projection names; all when omitted.
        names: Vec<String>,
        #[command(flatten)]
        opts: RunArgs,
    },
    /// Checkpoint, stream position and lag of every projection.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild one projection from the start of the log into shadow tables, then swap them in.
    Rebuild { name: String },
    /// Events a projection could not apply and set aside, with the error.
    Parked {
        /// Only this projection's.
        name: Option<String>,
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Apply parked events again (after a fix); each is applied exactly once.
    Retry {
        name: String,
        /// Stream sequences of the parked events.
        seqs: Vec<i64>,
        /// Every event this projection has parked.
        #[arg(long, conflicts_with = "seqs")]
        all: bool,
    },
    /// Give up on parked events: they stay on record, marked skipped.
    Skip {
        name: String,
        /// Stream sequences of the parked events.
        seqs: Vec<i64>,
        /// Every event this projection has parked.
        #[arg(long, conflicts_with = "seqs")]
        all: bool,
    },
}

/// The parked events a command names: some, or all with `--all`.
fn chosen_seqs(seqs: &[i64], all: bool) -> anyhow::Result<Option<&[i64]>> {
    match (seqs.is_empty(), all) {
        (true, false) => bail!("name the parked events' stream sequences, or pass --all"),
        (_, true) => Ok(None),
        (false, false) => Ok(Some(seqs)),
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// Events per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Exit once caught up instead of waiting for new events.
    #[arg(long)]
    pub until_caught_up: bool,
}

fn named_projections(names: &[String]) -> anyhow::Result<Vec<Box<dyn pod_projections::Projection>>> {
    if names.is_empty() {
        return Ok(all_projections());
    }
    let mut out = Vec::new();
    for n in names {
        match projection_named(n) {
            Some(p) => out.push(p),
            None => {
                let known: Vec<_> = all_projections().iter().map(|p| p.name()).collect();
                bail!("unknown projection {n:?}; known: {}", known.join(", "))
            }
        }
    }
    Ok(out)
}

/// Runs the named projections (all when none is named) until stopped, or
/// until caught up with `stop_when_idle`.
pub(crate) async fn run_projections(s: &Settings, names: &[String], options: RunOptions) -> anyhow::Result<()> {
    let ns = namespace(s)?;
    let pool = pg(s).await?;
    let client = nats(s).await?;
    let mut tasks = tokio::task::JoinSet::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    for p in named_projections(names)? {
        let projector = Projector::new(pool.clone(), client.clone(), ns.clone(), p);
        let options = options.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let name = projector.name();
            let stopped = async move {
                let _ = stop.wait_for(|v| *v).await;
            };
            // Catching up once reports its failure; running for good never
            // gives up: a failing projection starts again after a backoff and
            // never stops the others (events it cannot apply are parked).
            let res = if options.stop_when_idle {
                projector.run(&options, stopped).await
            } else {
                Ok(projector.run_supervised(&options, stopped).await)
            };
            (name, res)
        });
    }
    let stopper = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (name, res) = joined.context("a projection task panicked")?;
        match res {
            Ok(n) => tracing::info!(projection = name, applied = n, "projection stopped"),
            Err(e) => {
                tracing::error!(projection = name, error = %e, "projection failed");
                failed.push(e.to_string());
            }
        }
    }
    stopper.abort();
    if failed.is_empty() { Ok(()) } else { bail!("{}", failed.join("; ")) }
}

pub async fn run(s: &Settings, command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProjectionsCommand::Run { names, opts } => {
            let options = RunOptions {
                batch_size: opts.batch_size.max(1),
                stop_when_idle: opts.until_caught_up,
                ..Default::default()
            };
            run_projections(s, &names, options).await?;
        }
        ProjectionsCommand::Status { json } => {
            let pool = pg(s).await?;
            let client = nats(s).await?;
            let st = pod_projections::status::status(&pool, client, &namespace(s)?, &all_projections()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                println!(
                    "{:<12} {:>12} {:>12} {:>10} {:>10} {:>5} {:>7}",
                    "PROJECTION", "CHECKPOINT", "STREAM LAST", "LAG(SEQ)", "PENDING", "GEN", "PARKED"
                );
                for r in st {
                    let pending = r.pending_events.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                    println!(
                        "{:<12} {:>12} {:>12} {:>10} {:>10} {:>5} {:>7}",
                        r.projection, r.checkpoint, r.stream_last_seq, r.lag_seq, pending, r.generation, r.parked
                    );
                }
            }
        }
        ProjectionsCommand::Rebuild { name } => {
            let p = named_projections(std::slice::from_ref(&name))?.remove(0);
            let pool = pg(s).await?;
            let client = nats(s).await?;
            let r = pod_projections::rebuild::rebuild(&pool, client, &namespace(s)?, p.as_ref(), 1000).await?;
            println!("rebuilt {}: {} events, up to stream sequence {}", r.projection, r.events, r.last_seq);
        }
        ProjectionsCommand::Parked { name, tenant, json } => {
            if let Some(n) = &name {
                named_projections(std::slice::from_ref(n))?;
            }
            let pool = pg(s).await?;
            let rows = pod_projections::parked::list(&pool, name.as_deref(), tenant.as_deref(), 10_000).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no parked events");
            } else {
                println!("{:<12} {:>10} {:<20} {:<22} ERROR", "PROJECTION", "SEQ", "TENANT", "EVENT");
                for r in rows {
                    println!(
                        "{:<12} {:>10} {:<20} {:<22} {}",
                        r.projection,
                        r.stream_seq,
                        r.tenant.unwrap_or_default(),
                        r.event_type.unwrap_or_else(|| "(unreadable)".into()),
                        r.error.escape_debug()
                    );
                }
            }
        }
        ProjectionsCommand::Retry { name, seqs, all } => {
            let p = named_projections(std::slice::from_ref(&name))?.remove(0);
            let chosen = chosen_seqs(&seqs, all)?;
            let pool = pg(s).await?;
            let client = nats(s).await?;
            let outcomes = pod_projections::parked::retry(&pool, client, &namespace(s)?, p.as_ref(), chosen).await?;
            let mut failing = 0;
            for o in &outcomes {
                match o {
                    pod_projections::parked::RetryOutcome::Applied { stream_seq } => {
                        println!("{stream_seq}: applied")
                    }
                    pod_projections::parked::RetryOutcome::StillFailing { stream_seq, error } => {
                        failing += 1;
                        println!("{stream_seq}: still failing: {}", error.escape_debug())
                    }
                    pod_projections::parked::RetryOutcome::NotParked { stream_seq } => {
                        println!("{stream_seq}: not parked (never, or already retried or skipped)")
                    }
                }
            }
            if failing > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        ProjectionsCommand::Skip { name, seqs, all } => {
            named_projections(std::slice::from_ref(&name))?;
            let chosen = chosen_seqs(&seqs, all)?;
            let pool = pg(s).await?;
            let n = pod_projections::parked::skip(&pool, &name, chosen).await?;
            println!("{n} parked events of {name} skipped");
        }
    }
    Ok(ExitCode::SUCCESS)
}

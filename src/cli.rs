//! Subcommands and what each one starts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use pod_events::Namespace;
use pod_projections::{Projector, RunOptions, all_projections, projection_named};

use crate::config::Settings;
use crate::replay;

#[derive(Parser)]
#[command(name = "pod", version, about = "POD Automator: trends to print-on-demand listings, event by event")]
pub struct Cli {
    /// A TOML configuration file (also POD_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply the database migrations.
    Migrate,
    /// NATS streams, KV buckets and consumers.
    Nats {
        #[command(subcommand)]
        command: NatsCommand,
    },
    /// The event catalogue.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Export events for analysis (JSON Lines or Parquet).
    Replay(replay::ReplayArgs),
    /// Run everything in one process: migrations, definitions, every projection, every worker and the API.
    Up,
    /// Run one worker kind (trends, ideation, screening, designs, listings); start more to scale it.
    Worker {
        #[arg(value_parser = |s: &str| s.parse::<pod_workers::kinds::WorkerKind>())]
        kind: pod_workers::kinds::WorkerKind,
    },
    /// Dead letters: events a worker gave up on.
    Dlq {
        #[command(subcommand)]
        command: crate::stages::DlqCommand,
    },
    /// Check a phrase against the trademark and policy index (exit 0 green, 1 amber, 2 red).
    Screen(crate::stages::ScreenArgs),
    /// The trademark index used by screening.
    Trademarks {
        #[command(subcommand)]
        command: crate::stages::TrademarksCommand,
    },
    /// Tenants (shops / workspaces).
    Tenants {
        #[command(subcommand)]
        command: crate::stages::TenantsCommand,
    },
    /// API tokens for programs.
    Tokens {
        #[command(subcommand)]
        command: crate::stages::TokensCommand,
    },
    /// People who sign in to the dashboard.
    Users {
        #[command(subcommand)]
        command: crate::stages::UsersCommand,
    },
    /// Trend lists and sources.
    Trends {
        #[command(subcommand)]
        command: crate::stages::TrendsCommand,
    },
    /// Benchmarks that print each figure beside its ceiling measured in the same run.
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

#[derive(Subcommand)]
pub enum NatsCommand {
    /// Create or update the definitions under nats/ and report what changed.
    Apply {
        /// Definitions folder (default: the configured nats_dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Print the JSON Schema of every event type (or of one).
    Schema {
        /// Only this event type, e.g. TrendObserved.
        #[arg(long = "type")]
        event_type: Option<String>,
    },
}

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

pub fn namespace(s: &Settings) -> anyhow::Result<Namespace> {
    Namespace::new(s.prefix.clone()).with_context(|| format!("setting `prefix` = {:?}", s.prefix))
}

pub(crate) async fn nats(s: &Settings) -> anyhow::Result<async_nats::Client> {
    Ok(pod_events::store::connect(&s.nats_url, "pod").await?)
}

async fn pg(s: &Settings) -> anyhow::Result<sqlx::PgPool> {
    Ok(pod_projections::db::connect(&s.database_url, s.db_max_connections).await?)
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

/// The configured identity providers, their endpoints resolved (an issuer's
/// discovery document is fetched now, so a wrong one stops the start).
async fn identity_providers(s: &Settings) -> anyhow::Result<Vec<pod_api::auth::oidc::Provider>> {
    let mut out = Vec::new();
    for (name, settings) in &s.oidc {
        let provider = pod_api::auth::oidc::Provider::resolve(name, settings).await?;
        tracing::info!(provider = %name, callback = %format!("{}/auth/{name}/callback", s.public_url()), "sign-in provider");
        out.push(provider);
    }
    Ok(out)
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run_projections(s: &Settings, names: &[String], options: RunOptions) -> anyhow::Result<()> {
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

pub async fn run(cli: Cli, s: Settings) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate => {
            let pool = pg(&s).await?;
            pod_projections::db::migrate(&pool).await?;
            println!("migrations applied");
        }
        Command::Nats { command: NatsCommand::Apply { dir } } => {
            let client = nats(&s).await?;
            let dir = dir.unwrap_or_else(|| s.nats_dir.clone());
            let applied = pod_events::store::definitions::apply(&client, &namespace(&s)?, &dir)
                .await
                .with_context(|| format!("applying definitions from {}", dir.display()))?;
            for a in applied {
                println!("{a}");
            }
        }
        Command::Events { command: EventsCommand::Schema { event_type } } => {
            let all = pod_events::schema::all();
            let chosen: Vec<_> = match &event_type {
                Some(t) => all.into_iter().filter(|s| s.event_type == t).collect(),
                None => all,
            };
            if chosen.is_empty() {
                bail!("unknown event type {:?}", event_type.unwrap_or_default());
            }
            println!("{}", serde_json::to_string_pretty(&chosen)?);
        }
        Command::Projections { command } => match command {
            ProjectionsCommand::Run { names, opts } => {
                let options = RunOptions {
                    batch_size: opts.batch_size.max(1),
                    stop_when_idle: opts.until_caught_up,
                    ..Default::default()
                };
                run_projections(&s, &names, options).await?;
            }
            ProjectionsCommand::Status { json } => {
                let pool = pg(&s).await?;
                let client = nats(&s).await?;
                let st = pod_projections::status::status(&pool, client, &namespace(&s)?, &all_projections()).await?;
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
                let pool = pg(&s).await?;
                let client = nats(&s).await?;
                let r = pod_projections::rebuild::rebuild(&pool, client, &namespace(&s)?, p.as_ref(), 1000).await?;
                println!("rebuilt {}: {} events, up to stream sequence {}", r.projection, r.events, r.last_seq);
            }
            ProjectionsCommand::Parked { name, tenant, json } => {
                if let Some(n) = &name {
                    named_projections(std::slice::from_ref(n))?;
                }
                let pool = pg(&s).await?;
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
                let pool = pg(&s).await?;
                let client = nats(&s).await?;
                let outcomes =
                    pod_projections::parked::retry(&pool, client, &namespace(&s)?, p.as_ref(), chosen).await?;
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
                let pool = pg(&s).await?;
                let n = pod_projections::parked::skip(&pool, &name, chosen).await?;
                println!("{n} parked events of {name} skipped");
            }
        },
        Command::Replay(args) => {
            let client = nats(&s).await?;
            let n = replay::run(client, &namespace(&s)?, args).await?;
            eprintln!("{n} events written");
        }
        Command::Bench { command } => crate::bench::run(&s, command).await?,
        Command::Up => {
            let pool = pg(&s).await?;
            pod_projections::db::migrate(&pool).await?;
            let client = nats(&s).await?;
            for a in pod_events::store::definitions::apply(&client, &namespace(&s)?, &s.nats_dir).await? {
                tracing::info!(change = %a, "nats definitions");
            }
            let ns = namespace(&s)?;
            let index = std::sync::Arc::new(pod_workers::kinds::screening_index(&s.workers)?);
            let blobs = pod_workers::kinds::blob_store(&s.workers).await?;
            let sessions = pod_api::auth::sessions::SessionSettings {
                secure: s.public_url().starts_with("https://"),
                ..Default::default()
            };
            let state = pod_api::AppState::new(pool.clone(), client.clone(), &ns, index, blobs)
                .await?
                .with_sessions(sessions)
                .with_home_tenant(s.workers.trends.tenant.clone())
                .with_identity_providers(identity_providers(&s).await?, &s.public_url())
                .with_trusted_proxies(s.trusted_proxies);
            tracing::info!(url = %s.public_url(), "dashboard");
            let api =
                async { pod_api::serve(&s.api_bind, state, shutdown_signal()).await.map_err(anyhow::Error::from) };
            let projections = run_projections(&s, &[], RunOptions::default());
            let workers = crate::stages::all_workers(&s);
            // The first to fail ends the process (with its error).
            tokio::try_join!(api, projections, workers)?;
        }
        Command::Worker { kind } => crate::stages::worker(&s, kind).await?,
        Command::Dlq { command } => crate::stages::dlq(&s, command).await?,
        Command::Screen(args) => return crate::stages::screen(&s, args),
        Command::Trends { command } => crate::stages::trends(&s, command).await?,
        Command::Trademarks { command } => crate::stages::trademarks(&s, command)?,
        Command::Tenants { command } => crate::stages::tenants(&s, command).await?,
        Command::Tokens { command } => crate::stages::tokens(&s, command).await?,
        Command::Users { command } => crate::stages::users(&s, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

//! Subcommands and what each one starts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use pod_events::Namespace;

use crate::commands::{self, replay};
use crate::config::Settings;

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
        command: commands::projections::ProjectionsCommand,
    },
    /// Export events for analysis (JSON Lines or Parquet).
    Replay(replay::ReplayArgs),
    /// Run everything in one process: migrations, definitions, every projection, every worker and the API.
    Up,
    /// Run one worker kind (trends, ideation, screening, designs, listings, publishing); start more to scale it.
    Worker {
        #[arg(value_parser = |s: &str| s.parse::<pod_workers::kinds::WorkerKind>())]
        kind: pod_workers::kinds::WorkerKind,
    },
    /// Dead letters: events a worker gave up on.
    Dlq {
        #[command(subcommand)]
        command: commands::dead_letters::DlqCommand,
    },
    /// Check a phrase against the trademark and policy index (exit 0 green, 1 amber, 2 red).
    Screen(commands::screening::ScreenArgs),
    /// The trademark index used by screening.
    Trademarks {
        #[command(subcommand)]
        command: commands::screening::TrademarksCommand,
    },
    /// Tenants (shops / workspaces).
    Tenants {
        #[command(subcommand)]
        command: commands::accounts::TenantsCommand,
    },
    /// API tokens for programs.
    Tokens {
        #[command(subcommand)]
        command: commands::accounts::TokensCommand,
    },
    /// People who sign in to the dashboard.
    Users {
        #[command(subcommand)]
        command: commands::accounts::UsersCommand,
    },
    /// Trend lists and sources.
    Trends {
        #[command(subcommand)]
        command: commands::trends::TrendsCommand,
    },
    /// The keys marketplace credentials are sealed with.
    Vault {
        #[command(subcommand)]
        command: commands::vault::VaultCommand,
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
        /// Keep every stream on this many nodes (3 on a production
        /// cluster) instead of its definition's `num_replicas`; an existing
        /// stream is scaled in place.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        replicas: Option<u8>,
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

pub fn namespace(s: &Settings) -> anyhow::Result<Namespace> {
    Namespace::new(s.prefix.clone()).with_context(|| format!("setting `prefix` = {:?}", s.prefix))
}

pub(crate) async fn nats(s: &Settings) -> anyhow::Result<async_nats::Client> {
    Ok(pod_events::store::connect(&s.nats_url, "pod").await?)
}

pub(crate) async fn pg(s: &Settings) -> anyhow::Result<sqlx::PgPool> {
    Ok(pod_projections::db::connect(&s.database_url, s.db_max_connections).await?)
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

pub async fn run(cli: Cli, s: Settings) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate => {
            let pool = pg(&s).await?;
            pod_projections::db::migrate(&pool).await?;
            println!("migrations applied");
        }
        Command::Nats { command: NatsCommand::Apply { dir, replicas } } => {
            let client = nats(&s).await?;
            let dir = dir.unwrap_or_else(|| s.nats_dir.clone());
            let applied = pod_events::store::definitions::apply_replicated(&client, &namespace(&s)?, &dir, replicas)
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
        Command::Projections { command } => return commands::projections::run(&s, command).await,
        Command::Replay(args) => {
            let client = nats(&s).await?;
            let n = replay::run(client, &namespace(&s)?, args).await?;
            eprintln!("{n} events written");
        }
        Command::Bench { command } => crate::bench::run(&s, command).await?,
        Command::Up => commands::up::run(&s).await?,
        Command::Worker { kind } => commands::workers::worker(&s, kind).await?,
        Command::Dlq { command } => commands::dead_letters::dlq(&s, command).await?,
        Command::Screen(args) => return commands::screening::screen(&s, args),
        Command::Trends { command } => commands::trends::trends(&s, command).await?,
        Command::Trademarks { command } => commands::screening::trademarks(&s, command)?,
        Command::Tenants { command } => commands::accounts::tenants(&s, command).await?,
        Command::Tokens { command } => commands::accounts::tokens(&s, command).await?,
        Command::Users { command } => commands::accounts::users(&s, command).await?,
        Command::Vault { command } => commands::vault::vault(&s, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

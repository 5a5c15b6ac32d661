//! Subcommands of the pipeline's stages: running workers, dead letters,
//! screening a phrase, importing trends.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pod_events::TenantId;
use pod_events::domain::idea::Verdict;
use pod_events::store::dead_letters;
use pod_workers::kinds::{self, WorkerKind};
use pod_workers::screening::{screen_fields, verdict_of};
use pod_workers::trends::ingest::ingest;
use pod_workers::trends::parse::{Format, parse};

use crate::cli::{namespace, nats, shutdown_signal};
use crate::config::Settings;

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Dead letters, oldest first.
    List {
        /// Only this worker kind's.
        #[arg(long)]
        worker: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their worker.
    Retry(DlqSelection),
    /// Drop dead letters for good.
    Discard(DlqSelection),
}

#[derive(Args)]
pub struct DlqSelection {
    /// Dead-letter sequences (from `pod dlq list`).
    pub seqs: Vec<u64>,
    /// Every dead letter (of `--worker`, if given).
    #[arg(long, conflicts_with = "seqs")]
    pub all: bool,
    #[arg(long)]
    pub worker: Option<String>,
}

#[derive(Subcommand)]
pub enum TrendsCommand {
    /// Import a trend list: a CSV, JSON or RSS/Atom file, or an http(s) URL.
    Import {
        /// File path or URL.
        source: String,
        /// Tenant the trends belong to (default: workers.trends.tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Source name recorded with every observation (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// csv, json or feed (default: guessed from the name and contents).
        #[arg(long)]
        format: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TrademarksCommand {
    /// Import live word marks from USPTO trademark bulk XML (unzipped) into the screening list.
    Import {
        file: std::path::PathBuf,
        /// Nice classes to keep (default: 25, 21, 16, 18, 9).
        #[arg(long, value_delimiter = ',')]
        classes: Vec<u16>,
        /// The list to write (default: workers.screening.trademarks_list).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Creates a tenant (nothing happens if it exists).
    Create {
        /// Its id: lowercase letters, digits, `-` and `_` (e.g. `acme`).
        tenant: String,
        /// Its display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// Sets a tenant's plan (free, pro, unlimited) and, optionally, limits of
    /// its own per month (`--images 500`; `--images plan` goes back to the plan's).
    Plan {
        tenant: String,
        plan: String,
        #[arg(long)]
        ideas: Option<String>,
        #[arg(long)]
        images: Option<String>,
        #[arg(long)]
        listings: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Issues an API token and prints it (the only time it is shown).
    Create {
        #[arg(long)]
        tenant: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// What it is for, e.g. `ci` or `zapier`.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Creates a person who signs in to the dashboard with a password, read
    /// from `POD_USER_PASSWORD` or else the first line of standard input
    /// (never from the command line, where other users could see it).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// The name the dashboard shows.
        #[arg(long)]
        name: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "editor")]
        role: String,
    },
    /// Gives an existing person a role in another shop (they switch shops in the dashboard).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "editor")]
        role: String,
    },
}

#[derive(Args)]
pub struct ScreenArgs {
    /// The phrase, title or tag list to check.
    pub text: String,
    /// Nice class of the goods (25 apparel, 21 mugs, 16 paper, 18 bags, 9 cases).
    #[arg(long)]
    pub class: Option<u16>,
    #[arg(long)]
    pub json: bool,
}

/// Runs one worker kind until stopped.
pub async fn worker(s: &Settings, kind: WorkerKind) -> anyhow::Result<()> {
    let client = nats(s).await?;
    kinds::run(kind, client, namespace(s)?, &s.workers, shutdown_signal())
        .await
        .with_context(|| format!("worker {kind}"))
}

/// Every worker kind in this process; the first to fail stops the rest.
pub async fn all_workers(s: &Settings) -> anyhow::Result<()> {
    let client = nats(s).await?;
    let ns = namespace(s)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for kind in WorkerKind::ALL {
        let (client, ns, settings, mut stop) = (client.clone(), ns.clone(), s.workers.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let res = kinds::run(kind, client, ns, &settings, async move {
                let _ = stop.wait_for(|v| *v).await;
            })
            .await;
            (kind, res)
        });
    }
    let stopper = tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        }
    });
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        let (kind, res) = joined.context("a worker task panicked")?;
        if let Err(e) = res {
            tracing::error!(worker = %kind, error = %e, "worker failed; stopping the others");
            let _ = stop_tx.send(true);
            failed.get_or_insert(anyhow::Error::from(e).context(format!("worker {kind}")));
        }
    }
    stopper.abort();
    failed.map_or(Ok(()), Err)
}

pub async fn dlq(s: &Settings, command: DlqCommand) -> anyhow::Result<()> {
    let client = nats(s).await?;
    let ns = namespace(s)?;
    let check_worker = |w: &Option<String>| -> anyhow::Result<()> {
        if let Some(w) = w {
            w.parse::<WorkerKind>().map_err(|e| anyhow::anyhow!("--worker: {e}"))?;
        }
        Ok(())
    };
    match command {
        DlqCommand::List { worker, json } => {
            check_worker(&worker)?;
            let letters = dead_letters::list(&client, &ns, worker.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters");
            } else {
                println!(
                    "{:>8} {:<10} {:<10} {:<18} {:>8} {:>5} {:<25} ERROR",
                    "SEQ", "WORKER", "TENANT", "EVENT", "LOG SEQ", "TRIES", "DEAD AT"
                );
                for l in letters {
                    println!(
                        "{:>8} {:<10} {:<10} {:<18} {:>8} {:>5} {:<25} {}",
                        l.dlq_seq,
                        l.worker,
                        l.tenant,
                        l.event_type,
                        l.stream_seq,
                        l.deliveries,
                        l.dead_at.to_rfc3339(),
                        l.error
                    );
                }
            }
        }
        DlqCommand::Retry(sel) | DlqCommand::Discard(sel) if !sel.all && sel.seqs.is_empty() => {
            let _ = sel;
            bail!("name the dead letters to act on (their SEQ from `pod dlq list`), or pass --all");
        }
        DlqCommand::Retry(sel) => {
            check_worker(&sel.worker)?;
            for seq in selected(&client, &ns, &sel).await? {
                let l = dead_letters::retry(&client, &ns, seq).await?;
                println!("retrying {seq}: {} {} for worker {}", l.event_type, l.subject, l.worker);
            }
        }
        DlqCommand::Discard(sel) => {
            check_worker(&sel.worker)?;
            for seq in selected(&client, &ns, &sel).await? {
                let l = dead_letters::discard(&client, &ns, seq).await?;
                println!("discarded {seq}: {} {} ({})", l.event_type, l.subject, l.error);
            }
        }
    }
    Ok(())
}

async fn selected(
    client: &async_nats::Client,
    ns: &pod_events::Namespace,
    sel: &DlqSelection,
) -> anyhow::Result<Vec<u64>> {
    if sel.all {
        Ok(dead_letters::list(client, ns, sel.worker.as_deref()).await?.into_iter().map(|l| l.dlq_seq).collect())
    } else {
        Ok(sel.seqs.clone())
    }
}

/// `pod screen`: exit 0 green, 1 amber, 2 red.
pub fn screen(s: &Settings, args: ScreenArgs) -> anyhow::Result<ExitCode> {
    let index = kinds::screening_index(&s.workers)?;
    let hits = screen_fields(&index, &[("text", args.text.as_str())], args.class);
    let verdict = verdict_of(&hits);
    let word = verdict.as_str();
    if args.json {
        let out = serde_json::json!({"verdict": word, "hits": hits, "index_version": index.version()});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{word}: {:?}", args.text);
        for h in &hits {
            let sev = h.severity.as_str();
            println!("  {sev:<5} {:<7} {:?} matched {:?} ({})", h.match_kind, h.term, h.matched, h.source);
        }
    }
    Ok(ExitCode::from(match verdict {
        Verdict::Green => 0,
        Verdict::Amber => 1,
        Verdict::Red => 2,
    }))
}

pub async fn trends(s: &Settings, command: TrendsCommand) -> anyhow::Result<()> {
    match command {
        TrendsCommand::Import { source, tenant, name, format, json } => {
            let tenant_raw = tenant.unwrap_or_else(|| s.workers.trends.tenant.clone());
            let tenant =
                TenantId::parse(tenant_raw.clone()).map_err(|e| anyhow::anyhow!("--tenant {tenant_raw:?}: {e}"))?;
            let is_url = source.starts_with("http://") || source.starts_with("https://");
            let bytes = if is_url {
                let fetcher = pod_workers::trends::sources::HttpFetcher::new(std::time::Duration::from_millis(1))?;
                fetcher.get(&source).await.with_context(|| format!("fetching {source}"))?
            } else {
                std::fs::read(&source).with_context(|| format!("reading {source}"))?
            };
            let format = match format.as_deref() {
                None => Format::detect(&source, &bytes),
                Some("csv") => Format::Csv,
                Some("json") => Format::Json,
                Some("feed" | "rss" | "atom") => Format::Feed,
                Some(other) => bail!("--format {other:?}: use csv, json or feed"),
            };
            let name = name.unwrap_or_else(|| {
                if is_url {
                    url_host(&source)
                } else {
                    Path::new(&source)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "import".into())
                }
            });
            // The name, given or derived from the file or URL, is the observations' source.
            let name = pod_events::domain::text::SourceName::parse_as("--name", &name)
                .map_err(|e| anyhow::anyhow!("{e} (name the source with --name)"))?;
            let records = parse(format, &bytes, name.as_str(), chrono::Utc::now())
                .with_context(|| format!("reading {source}"))?;
            let client = nats(s).await?;
            let pipeline = pod_workers::pipeline::Pipeline::open(client, &namespace(s)?).await?;
            // The same content imported again is the same batch: stored once
            // (while the stream's duplicate window or the trend's last 64
            // commands remember it).
            let batch = format!("import/{}", pod_blobs::sha256_hex(&bytes));
            let report = ingest(&pipeline.trends, &tenant, &batch, &records).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{source}: {} records, {} keywords; {} observations stored, {} already stored, {} refused",
                    report.collected, report.keywords, report.persisted, report.duplicates, report.failed
                );
                for e in &report.errors {
                    println!("  refused: {e}");
                }
            }
        }
    }
    Ok(())
}

/// The host of a URL, without any `user:password@`, to name an import's source.
fn url_host(u: &str) -> String {
    let authority = u.split("://").nth(1).and_then(|r| r.split(['/', '?', '#']).next()).unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() { "import".into() } else { host.to_owned() }
}

pub async fn tenants(s: &Settings, command: TenantsCommand) -> anyhow::Result<()> {
    let pool = pod_projections::db::connect(&s.database_url, 2).await?;
    match command {
        TenantsCommand::Create { tenant, name } => {
            let name = name.unwrap_or_else(|| tenant.clone());
            pod_api::auth::create_tenant(&pool, &tenant, &name).await?;
            println!("tenant {tenant} ({name})");
        }
        TenantsCommand::Plan { tenant, plan, ideas, images, listings } => {
            if !pod_api::quotas::PLANS.iter().any(|p| p.name == plan) {
                let names: Vec<&str> = pod_api::quotas::PLANS.iter().map(|p| p.name).collect();
                bail!("plan {plan:?}: use one of {}", names.join(", "));
            }
            let limit = |field: &str, v: &Option<String>| -> anyhow::Result<Option<Option<i32>>> {
                match v.as_deref() {
                    None => Ok(None),
                    Some("plan") => Ok(Some(None)),
                    Some(n) => n
                        .parse::<i32>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .map(|n| Some(Some(n)))
                        .ok_or_else(|| anyhow::anyhow!("--{field} {n:?}: a whole number ≥ 0, or `plan`")),
                }
            };
            let (ideas, images, listings) =
                (limit("ideas", &ideas)?, limit("images", &images)?, limit("listings", &listings)?);
            let done = sqlx::query(
                "UPDATE tenants SET plan = $2,
                   ideas_quota = CASE WHEN $3 THEN $4 ELSE ideas_quota END,
                   images_quota = CASE WHEN $5 THEN $6 ELSE images_quota END,
                   listings_quota = CASE WHEN $7 THEN $8 ELSE listings_quota END
                 WHERE tenant = $1",
            )
            .bind(&tenant)
            .bind(&plan)
            .bind(ideas.is_some())
            .bind(ideas.flatten())
            .bind(images.is_some())
            .bind(images.flatten())
            .bind(listings.is_some())
            .bind(listings.flatten())
            .execute(&pool)
            .await?;
            if done.rows_affected() == 0 {
                bail!("tenant {tenant:?} does not exist (create it with `pod tenants create`)");
            }
            println!("tenant {tenant} is on the {plan} plan");
        }
    }
    Ok(())
}

pub async fn tokens(s: &Settings, command: TokensCommand) -> anyhow::Result<()> {
    let TokensCommand::Create { tenant, role, name } = command;
    let role = pod_api::auth::Role::parse(&role)
        .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor or owner"))?;
    let pool = pod_projections::db::connect(&s.database_url, 2).await?;
    let token = pod_api::auth::issue_token(&pool, &tenant, &name, role).await?;
    println!("{token}");
    eprintln!("keep it: this token is shown only now (tenant {tenant}, role {})", role.as_str());
    Ok(())
}

pub async fn users(s: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    let (tenant, email, name, role) = match command {
        UsersCommand::Create { tenant, email, name, role } => (tenant, email, name, role),
        UsersCommand::Add { tenant, email, role } => {
            let role = pod_api::auth::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor or owner"))?;
            let pool = pod_projections::db::connect(&s.database_url, 2).await?;
            pod_api::auth::add_member(&pool, &email, &tenant, role).await?;
            println!("{email} is {} of {tenant}", role.as_str());
            return Ok(());
        }
    };
    let role = pod_api::auth::Role::parse(&role)
        .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor or owner"))?;
    let password = match std::env::var("POD_USER_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("password for {email} (one line on standard input):");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let pool = pod_projections::db::connect(&s.database_url, 2).await?;
    let user = pod_api::auth::create_user(&pool, &tenant, &email, &name, &password, role).await?;
    println!("user {} ({}) is {} of {tenant}", user.email, user.display_name, role.as_str());
    Ok(())
}

pub fn trademarks(s: &Settings, command: TrademarksCommand) -> anyhow::Result<()> {
    let TrademarksCommand::Import { file, classes, out } = command;
    let classes = if classes.is_empty() { pod_workers::screening::uspto::POD_CLASSES.to_vec() } else { classes };
    let input = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let (list, report) = pod_workers::screening::uspto::to_list(std::io::BufReader::new(input), &classes)
        .with_context(|| format!("reading {}", file.display()))?;
    let out = out.unwrap_or_else(|| s.workers.screening.trademarks_list.clone());
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write aside, then rename: a running screening worker never reads half a list.
    let tmp = out.with_extension("tsv.tmp");
    std::fs::write(&tmp, list).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} case files; {} live word marks kept in {} ({} dead, {} not word marks, {} in other classes, {} repeated)",
        file.display(),
        report.case_files,
        report.kept,
        out.display(),
        report.dead,
        report.not_words,
        report.other_classes,
        report.duplicates
    );
    println!("restart the screening workers to load it");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_import_url_names_its_host_and_never_its_credentials() {
        assert_eq!(super::url_host("https://user:secret@lists.example.com/trends.csv"), "lists.example.com");
        assert_eq!(super::url_host("https://lists.example.com?x=1"), "lists.example.com");
        assert_eq!(super::url_host("https://"), "import");
    }
}
